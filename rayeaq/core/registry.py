"""Registries for the families of methods: environment backends, behaviour policies, augmenters, learners.

A family is a :class:`Registry`; each member module adds itself with ``@REGISTRY.register("name")`` (or
:meth:`Registry.add`), so a new member is a new module plus one import in the family's ``__init__`` — never
an edit of an ``if``/``elif`` chain. A lookup of an unknown name is a one-line :class:`ConfigError` naming
the config key and the registered names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from rayeaq.core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named members of one family; ``key`` is the config key that chooses a member (for error messages)."""

    def __init__(self, family: str, key: str) -> None:
        self.family = family
        self.key = key
        self._members: dict[str, T] = {}

    def add(self, name: str, member: T) -> T:
        """Register ``member`` under ``name`` (a name is registered once)."""
        if name in self._members:
            raise ValueError(f"{self.family} {name!r} is registered twice")
        self._members[name] = member
        return member

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorate(member: T) -> T:
            return self.add(name, member)

        return decorate

    def get(self, name: str) -> T:
        """The member called ``name``; an unknown name is a :class:`ConfigError` listing the known ones."""
        try:
            return self._members[name]
        except KeyError:
            raise ConfigError(f"{self.key}: {self._expected()}, got {name!r}") from None

    def check(self, name: str) -> str:
        """``name`` if registered, else a ``ValueError`` for a pydantic validator (the loader adds the key)."""
        if name not in self._members:
            raise ValueError(self._expected())
        return name

    def _expected(self) -> str:
        """``expected one of 'a', 'b' or 'c'`` (the wording of the config loader's other choices)."""
        quoted = [repr(n) for n in self.names()]
        listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        return f"expected one of {listed}"

    def names(self) -> tuple[str, ...]:
        return tuple(self._members)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(self._members.items())

    def __contains__(self, name: object) -> bool:
        return name in self._members
