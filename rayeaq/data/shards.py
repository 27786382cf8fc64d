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
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rayeaq.core.errors import DatasetError
from rayeaq.core.output import writing
from rayeaq.data.batch import EPISODE_FIELDS, EpisodeBatch, step_dtype

# On-disk dtypes (smaller than in memory where lossless).
DISK_DTYPES: dict[str, pa.DataType] = {
    "obs": pa.float32(),
    "state": pa.float32(),
    "avail_actions": pa.uint8(),
    "actions": pa.int32(),
    "reward": pa.float32(),
    "terminated": pa.uint8(),
    "filled": pa.uint8(),
    "agent_reward": pa.float32(),  # v2, optional
}
BOX_ACTIONS_DISK = pa.float32()  # v2 box actions [T, N, Da]
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


def disk_type(name: str, trailing_ndim: int) -> pa.DataType:
    """On-disk value type of a per-step field (box actions, 3 trailing dims, are float32)."""
    return BOX_ACTIONS_DISK if name == "actions" and trailing_ndim == 3 else DISK_DTYPES[name]


def batch_to_table(batch: EpisodeBatch, success: bool = True) -> pa.Table:
    """EpisodeBatch -> Arrow table (one row per episode). ``success=False`` (maps without a win, v2) writes
    ``battle_won`` as nulls."""
    arrays = batch.to_arrays()
    columns, schema_fields = [], []
    for name in EPISODE_FIELDS:
        values: np.ndarray | list[Any] = arrays[name]
        if SCALAR_TYPES[name] == pa.string():
            values = [str(v) for v in values]
        if name == "battle_won" and not success:
            values = [None] * len(batch)
        columns.append(pa.array(values, type=SCALAR_TYPES[name]))
        schema_fields.append(pa.field(name, SCALAR_TYPES[name]))
    for name in batch.step_fields():
        shape = arrays[name].shape[1:]
        kind = disk_type(name, len(shape))
        values = _as_disk(arrays[name], np.dtype(kind.to_pandas_dtype()))
        flat = pa.array(values.reshape(-1), type=kind)
        width = int(np.prod(shape))
        columns.append(pa.FixedSizeListArray.from_arrays(flat, width))
        schema_fields.append(pa.field(name, pa.list_(kind, width), metadata={"shape": json.dumps(list(shape))}))
    # per-episode content digest: the dataset fingerprint is computed from these without reading tensors
    columns.append(pa.array([digest for _, digest in episode_digests(batch)], type=pa.string()))
    schema_fields.append(pa.field(DIGEST, pa.string()))
    return pa.Table.from_arrays(columns, schema=pa.schema(schema_fields))


def _as_disk(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` in the on-disk dtype, C-contiguous, copied only when it must be: a padded shard is hundreds of MB
    (3m, 1 000 episodes: 70 MB of obs), so a copy of each float column costs as much as the simulator's steps."""
    if values.dtype == np.bool_ and dtype == np.uint8:
        return np.ascontiguousarray(values).view(np.uint8)  # the same bytes (0/1)
    return np.ascontiguousarray(values.astype(dtype, copy=False))


def write_shard(directory: str | Path, batch: EpisodeBatch, name: str | None = None, success: bool = True) -> Path:
    """Write ``batch`` as one shard atomically; returns the final path (``success``: see :func:`batch_to_table`)."""
    directory = Path(directory)
    with writing(directory):
        directory.mkdir(parents=True, exist_ok=True)
    name = name or shard_name(int(batch.episode_id.min()))
    final = directory / name
    tmp = directory / f".{name}.tmp-{os.getpid()}"
    table = batch_to_table(batch, success)
    with writing(final, tmp):  # a full or read-only disk: one line naming the shard, the temporary removed
        # zstd level 1 and no dictionary pages for the tensor columns: ~2x faster to write and read than
        # pyarrow's defaults on padded episodes, and smaller (benchmarks/collect.py).
        pq.write_table(
            table, tmp, compression="zstd", compression_level=1, use_dictionary=["source", "behaviour_policy"]
        )
        with open(tmp, "rb") as handle:  # make the bytes durable before the rename publishes them
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    return final


def _kind(kind: pa.DataType) -> str:
    """float / int / bool / str / other, looking through dictionary encoding."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    for name, test in (
        ("float", pa.types.is_floating),
        ("int", pa.types.is_integer),
        ("bool", pa.types.is_boolean),
        ("str", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
    ):
        if test(kind):
            return name
    return "other"


ACCEPTED_KINDS = {"float": {"float"}, "int": {"int", "bool"}, "bool": {"bool", "int"}, "str": {"str"}}
"""Value kinds a reader accepts for a field written with a given kind (masks and flags as 0/1 integers too)."""


def check_types(schema: pa.Schema, path: Path, shapes: dict[str, tuple[int, ...]]) -> None:
    """Each present field holds values of the kind the writer wrote (an edited schema is a one-line error);
    ``shapes`` (per-episode trailing shapes) tell box actions (float) from discrete ones (int)."""
    per_step = {n: disk_type(n, len(shapes[n])) if n in shapes else t for n, t in DISK_DTYPES.items()}
    expected = {**dict(SCALAR_TYPES.items()), **per_step}
    accepted = {**ACCEPTED_KINDS, "float": {"float", "int"}}
    for name, written in expected.items():
        if name not in schema.names:
            continue
        kind = schema.field(name).type
        if name in DISK_DTYPES:
            if not pa.types.is_fixed_size_list(kind):
                raise DatasetError(f"{path}: field {name}: expected a fixed-size list column, got {kind}")
            kind = kind.value_type
        want = _kind(written)
        ok = (accepted if name == "return" else ACCEPTED_KINDS)[want]
        if _kind(kind) not in ok:
            raise DatasetError(f"{path}: field {name}: expected {written} values, got {kind}")


def read_digests(path: str | Path) -> list[tuple[int, str]]:
    """(episode_id, content digest) of every episode of a shard, read without its tensors."""
    path = Path(path)
    try:
        table = pq.read_table(path, columns=["episode_id", DIGEST])
    except (pa.ArrowInvalid, OSError, KeyError) as err:
        raise DatasetError(f"{path}: field {DIGEST}: cannot read the content digests ({err})") from None
    return list(zip(table.column("episode_id").to_pylist(), table.column(DIGEST).to_pylist(), strict=True))


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
    values: np.ndarray = column.values.to_numpy(zero_copy_only=False)
    return values.reshape((len(table),) + shape).astype(step_dtype(name, len(shape)), copy=False)


def read_shard(path: str | Path, shapes: dict[str, tuple[int, ...]]) -> EpisodeBatch:
    """Read one shard, checking every field named in ``shapes`` (per-episode trailing shapes, from
    :func:`field_shapes`: v2 datasets may lack ``avail_actions`` or carry ``agent_reward``)."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DatasetError(f"{path}: not a readable Parquet shard ({err})") from None
    check_types(table.schema, path, shapes)
    arrays: dict[str, np.ndarray] = {}
    for name in shapes:
        arrays[name] = _column(table, name, path, shapes[name])
        if arrays[name].dtype.kind == "f" and not np.isfinite(arrays[name]).all():
            raise DatasetError(f"{path}: field {name}: contains NaN or infinite values")
    for name in EPISODE_FIELDS:
        if name not in table.column_names:
            raise DatasetError(f"{path}: field {name}: column missing")
        column = table.column(name)
        if name == "battle_won":  # v2: null where the map has no win
            column = column.fill_null(False)
        arrays[name] = column.to_numpy(zero_copy_only=False)
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
    check_types(schema, path, shapes)
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
    max_seq_len: int,
    n_agents: int,
    obs_dim: int,
    state_dim: int,
    n_actions: int,
    *,
    box: bool = False,
    agent_reward: bool = False,
) -> dict[str, tuple[int, ...]]:
    """Trailing shapes of the per-step fields for one episode, in storage order. ``box``: continuous actions
    ``(T, N, Da)`` with ``Da = n_actions`` and no ``avail_actions``; ``agent_reward``: add ``(T, N)``."""
    t, n = max_seq_len, n_agents
    shapes: dict[str, tuple[int, ...]] = {"obs": (t, n, obs_dim), "state": (t, state_dim)}
    if not box:
        shapes["avail_actions"] = (t, n, n_actions)
    shapes["actions"] = (t, n, n_actions) if box else (t, n)
    shapes.update({"reward": (t,), "terminated": (t,), "filled": (t,)})
    if agent_reward:
        shapes["agent_reward"] = (t, n)
    return shapes


def episode_digests(batch: EpisodeBatch) -> list[tuple[int, str]]:
    """(episode_id, sha256 of the episode's content) for every episode; independent of sharding."""
    out = []
    for i in range(len(batch)):
        h = hashlib.sha256()
        for name in batch.step_fields():  # v1 datasets: exactly STEP_FIELDS, so v1 digests are unchanged
            values = getattr(batch, name)[i]
            h.update(np.ascontiguousarray(values.astype(step_dtype(name, values.ndim), copy=False)).data)
        h.update(str(int(batch.length[i])).encode())
        out.append((int(batch.episode_id[i]), h.hexdigest()))
    return out


def fingerprint(digests: list[tuple[int, str]]) -> str:
    """Content fingerprint of a dataset: hash of its episode digests in episode-id order."""
    h = hashlib.sha256()
    for episode_id, digest in sorted(digests):
        h.update(f"{episode_id}:{digest};".encode())
    return h.hexdigest()[:32]
