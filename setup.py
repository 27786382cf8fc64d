"""rayeaq: Ray-distributed diffusion episode augmentation (EAQ) for offline cooperative MARL."""

from pathlib import Path

from setuptools import find_packages, setup

OGMARL = ["flashbax==0.1.3", "tensorstore>=0.1.86,<0.2"]
"""OG-MARL vaults (python -m rayeaq.data import-vault|export-vault); flashbax 0.1.3 checked next to jaxmarl 0.2.0."""

ANALYSIS = [
    "jupytext>=1.16",
    "nbformat>=5.9",
    "nbclient>=0.10",
    "nbconvert>=7.10",
    "ipykernel>=6.29",
    "matplotlib>=3.8",
    "scikit-learn>=1.4",
]

setup(
    name="rayeaq",
    version="0.1.0",
    description="Ray-distributed EAQ episode augmentation for offline cooperative multi-agent RL",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["rayeaq", "rayeaq.*", "analysis", "analysis.*"]),
    package_data={"rayeaq": ["py.typed"]},
    install_requires=[
        # Any range that 2.13.0 satisfies: install torch==2.13.0 first (see README) so
        # pip never pulls a CUDA build.
        "torch>=2.4,<3",
        "ray[rllib,tune,train,default,data]==2.60.0",
        "jaxmarl>=0.2.0,<0.3",
        "numpy>=1.26",
        "pandas>=2.0",
        "pyarrow>=14",
        "pyyaml>=6",
        "pydantic>=2.6,<3",
        "tqdm>=4.60",
    ],
    extras_require={
        # python -m rayeaq.report: analysis notebooks (jupytext sources executed headless) -> HTML, PNG, CSV
        "analysis": ANALYSIS,
        # the test suite and its checks (ruff, mypy; configured in pyproject.toml): references the code is checked
        # against (diffusers schedulers, rliable, flashbax) and the analysis packages (tests/e2e/test_report.py)
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "diffusers>=0.30",
            "rliable>=1.2",
            "ruff>=0.17.6,<0.18",  # rules and formatting change between minor versions
            "mypy>=2.4,<3",
            "mpe2==1.1.1",  # Farama mpe2 simple_spread_v3: the reference the MPE `spread` map is tested against
            *OGMARL,  # the vault round trip is tested with flashbax's own Vault API
            *ANALYSIS,
        ],
        # benchmarks/: the reference implementations timed side by side with ours
        "bench": ["diffusers>=0.30", "torchrl>=0.14", "psutil>=5.9"],  # psutil: peak RSS of process trees
        "ogmarl": OGMARL,
        # The real StarCraft II SMAC is NOT on PyPI (the PyPI package `smac` is SMAC3, an
        # AutoML tool). Install it from its repository (see README); these are the extra
        # packages it needs next to jaxmarl.
        "sc2": [
            "pysc2>=3.0",
            "protobuf<3.21",
        ],
    },
)
