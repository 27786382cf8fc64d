"""Parquet shards of episodes: one row per episode, tensors as flat fixed-size lists.

Each per-step field is a ``fixed_size_list<dtype>[prod(shape)]`` column; its shape after the
episode axis is stored in the field metadata (``shape``) and in the dataset card. Shards are written
to a hidden temporary name and renamed into place, so a crash never leaves a partial shard that a
reader would take as data (readers only open ``shard-*.parquet``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rayeaq.core.errors import DatasetError
from rayeaq.data.batch import EPISODE_FIELDS, STEP_FIELDS, EpisodeBatch

# On-disk dtypes (smaller than in memory where lossless).
DISK_DTYPES: dict[str, pa.DataType] = {
    "obs": pa.float32(),
    "state": pa.float32(),
    "avail_actions": pa.uint8(),
    "actions": pa.int32(),
    "reward": pa.float32(),
    "terminated": pa.uint8(),
    "filled": pa.uint8(),
}
SCALAR_TYPES: dict[str, pa.DataType] = {
    "episode_id": pa.int64(),
    "length": pa.int64(),
    "return": pa.float32(),
    "battle_won": pa.bool_(),
    "seed": pa.int64(),
    "source": pa.string(),
    "behaviour_policy": pa.string(),
}


DIGEST = "digest"


def shard_name(first_episode_id: int) -> str:
    return f"shard-{first_episode_id:09d}.parquet"


def batch_to_table(batch: EpisodeBatch) -> pa.Table:
    """EpisodeBatch -> Arrow table (one row per episode)."""
    arrays = batch.to_arrays()
    columns, schema_fields = [], []
    for name in EPISODE_FIELDS:
        values = arrays[name]
        if SCALAR_TYPES[name] == pa.string():
            values = [str(v) for v in values]
        columns.append(pa.array(values, type=SCALAR_TYPES[name]))
        schema_fields.append(pa.field(name, SCALAR_TYPES[name]))
    for name in STEP_FIELDS:
        values = np.ascontiguousarray(arrays[name]).astype(DISK_DTYPES[name].to_pandas_dtype())
        shape = values.shape[1:]
        flat = pa.array(values.reshape(-1), type=DISK_DTYPES[name])
        width = int(np.prod(shape))
        columns.append(pa.FixedSizeListArray.from_arrays(flat, width))
        schema_fields.append(
            pa.field(name, pa.list_(DISK_DTYPES[name], width), metadata={"shape": json.dumps(list(shape))})
        )
    # per-episode content digest: the dataset fingerprint is computed from these without reading tensors
    columns.append(pa.array([digest for _, digest in episode_digests(batch)], type=pa.string()))
    schema_fields.append(pa.field(DIGEST, pa.string()))
    return pa.Table.from_arrays(columns, schema=pa.schema(schema_fields))


def write_shard(directory: str | Path, batch: EpisodeBatch, name: str | None = None) -> Path:
    """Write ``batch`` as one shard atomically; returns the final path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = name or shard_name(int(batch.episode_id.min()))
    final = directory / name
    tmp = directory / f".{name}.tmp-{os.getpid()}"
    # zstd level 1 and no dictionary pages for the tensor columns: ~2x faster to write and read than
    # pyarrow's defaults on padded episodes, and smaller (benchmarks/collect.py).
    pq.write_table(
        batch_to_table(batch),
        tmp,
        compression="zstd",
        compression_level=1,
        use_dictionary=["source", "behaviour_policy"],
    )
    with open(tmp, "rb") as handle:  # make the bytes durable before the rename publishes them
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    return final


def _column(table: pa.Table, name: str, path: Path, shape: tuple[int, ...]) -> np.ndarray:
    if name not in table.column_names:
        raise DatasetError(f"{path}: field {name}: column missing")
    column = table.column(name).combine_chunks()
    if not pa.types.is_fixed_size_list(column.type):
        raise DatasetError(f"{path}: field {name}: expected a fixed-size list column, got {column.type}")
    width = int(np.prod(shape))
    if column.type.list_size != width:
        raise DatasetError(
            f"{path}: field {name}: {column.type.list_size} values per episode, expected {width} for shape {list(shape)}"
        )
    values = column.values.to_numpy(zero_copy_only=False)
    return values.reshape((len(table),) + shape).astype(STEP_FIELDS[name], copy=False)


def read_shard(path: str | Path, shapes: dict[str, tuple[int, ...]]) -> EpisodeBatch:
    """Read one shard, checking every field against ``shapes`` (per-episode trailing shapes)."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DatasetError(f"{path}: not a readable Parquet shard ({err})") from None
    arrays: dict[str, np.ndarray] = {}
    for name in STEP_FIELDS:
        arrays[name] = _column(table, name, path, shapes[name])
        if arrays[name].dtype.kind == "f" and not np.isfinite(arrays[name]).all():
            raise DatasetError(f"{path}: field {name}: contains NaN or infinite values")
    for name in EPISODE_FIELDS:
        if name not in table.column_names:
            raise DatasetError(f"{path}: field {name}: column missing")
        arrays[name] = table.column(name).to_numpy(zero_copy_only=False)
    if not np.isfinite(arrays["return"].astype(np.float64)).all():
        raise DatasetError(f"{path}: field return: contains NaN or infinite values")
    return EpisodeBatch.from_arrays(arrays)


def read_shard_index(path: str | Path, shapes: dict[str, tuple[int, ...]]) -> pd.DataFrame:
    """Per-episode columns and content digests of a shard, checking the tensor columns' sizes from the
    schema alone (the tensors themselves are read and checked for NaN by :func:`read_shard`)."""
    path = Path(path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DatasetError(f"{path}: not a readable Parquet shard ({err})") from None
    for name, shape in shapes.items():
        if name not in schema.names:
            raise DatasetError(f"{path}: field {name}: column missing")
        kind = schema.field(name).type
        if not pa.types.is_fixed_size_list(kind) or kind.list_size != int(np.prod(shape)):
            raise DatasetError(
                f"{path}: field {name}: expected {int(np.prod(shape))} values per episode "
                f"for shape {list(shape)}, got {kind}"
            )
    missing = [n for n in list(EPISODE_FIELDS) + [DIGEST] if n not in schema.names]
    if missing:
        raise DatasetError(f"{path}: field {missing[0]}: column missing")
    index = pq.read_table(path, columns=list(EPISODE_FIELDS) + [DIGEST]).to_pandas()
    if not np.isfinite(index["return"].to_numpy(dtype=np.float64)).all():
        raise DatasetError(f"{path}: field return: contains NaN or infinite values")
    return index


def field_shapes(
    max_seq_len: int, n_agents: int, obs_dim: int, state_dim: int, n_actions: int
) -> dict[str, tuple[int, ...]]:
    """Trailing shapes of the per-step fields for one episode."""
    t, n = max_seq_len, n_agents
    return {
        "obs": (t, n, obs_dim),
        "state": (t, state_dim),
        "avail_actions": (t, n, n_actions),
        "actions": (t, n),
        "reward": (t,),
        "terminated": (t,),
        "filled": (t,),
    }


def episode_digests(batch: EpisodeBatch) -> list[tuple[int, str]]:
    """(episode_id, sha256 of the episode's content) for every episode; independent of sharding."""
    out = []
    for i in range(len(batch)):
        h = hashlib.sha256()
        for name in STEP_FIELDS:
            values = getattr(batch, name)[i]
            h.update(np.ascontiguousarray(values.astype(STEP_FIELDS[name])).tobytes())
        h.update(str(int(batch.length[i])).encode())
        out.append((int(batch.episode_id[i]), h.hexdigest()))
    return out


def fingerprint(digests: list[tuple[int, str]]) -> str:
    """Content fingerprint of a dataset: hash of its episode digests in episode-id order."""
    h = hashlib.sha256()
    for episode_id, digest in sorted(digests):
        h.update(f"{episode_id}:{digest};".encode())
    return h.hexdigest()[:32]
