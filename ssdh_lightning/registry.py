"""One pattern for every kind of plug-in (training methods, backbones, hashing baselines, search
backends): a ``Registry`` of names, filled where each plug-in is defined, with
``@REGISTRY.register("name")``. Configs, checkpoints, commands and tests read it; a name that comes
from a file is looked up here, never imported or instantiated by its path, so only the project's
own plug-ins can be named."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Plug-ins of one ``kind`` by name; ``setting`` is where a user chooses one (e.g.
    ``method=NAME``), for messages."""

    def __init__(self, kind: str, setting: str) -> None:
        self.kind = kind
        self.setting = setting
        self._members: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator that adds its function or class under ``name`` and returns it unchanged."""

        def add(member: T) -> T:
            if name in self._members:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._members[name] = member
            return member

        return add

    def __getitem__(self, name: str) -> T:
        if name not in self._members:
            raise ValueError(
                f"unknown {self.kind} {name!r}; {self.setting} takes one of {', '.join(self)}"
            )
        return self._members[name]

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def __iter__(self) -> Iterator[str]:
        """The names, in the order they were registered."""
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(self._members.items())

    def name_of(self, member: T) -> str:
        """The name ``member`` was registered under."""
        for name, registered in self._members.items():
            if registered is member:
                return name
        raise KeyError(f"{member!r} is not a registered {self.kind}")
