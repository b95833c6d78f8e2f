"""The two domains and the two translation directions: the one definition that the CLI, the library and the
checkpoint format use.

* domain ``A``: the source domain (synthetic renders, e.g. photogrammetry models);
* domain ``B``: the target domain (the sensor's look, e.g. a phone's RGB camera and LiDAR);
* direction ``a2b`` translates A -> B (the product's job), ``b2a`` the reverse (the other half of the cycle).

Checkpoints name each direction's generator ``gen_<direction>`` (``gen_a2b``, ``gen_b2a``) and each domain's critic
``critic_<domain lower-case>`` (``critic_a``, ``critic_b``).
"""

from __future__ import annotations

from enum import Enum

from volo_adapt.errors import OptionError


class Domain(str, Enum):
    """One of the two unpaired image domains; the value is the upper-case letter used in folder and log names."""

    A = "A"
    B = "B"

    @property
    def critic(self) -> str:
        """Name of this domain's critic in the module and the checkpoint (``critic_a``, ``critic_b``)."""
        return f"critic_{self.value.lower()}"


class Direction(str, Enum):
    """A translation direction; the value is the spelling used on the command line and in files."""

    A2B = "a2b"
    B2A = "b2a"

    @property
    def source(self) -> Domain:
        """The domain this direction reads."""
        return Domain.A if self is Direction.A2B else Domain.B

    @property
    def target(self) -> Domain:
        """The domain this direction writes."""
        return Domain.B if self is Direction.A2B else Domain.A

    @property
    def generator(self) -> str:
        """Name of this direction's generator in the module and the checkpoint (``gen_a2b``, ``gen_b2a``)."""
        return f"gen_{self.value}"

    @property
    def reverse(self) -> Direction:
        """The other direction."""
        return Direction.B2A if self is Direction.A2B else Direction.A2B


DIRECTIONS: tuple[str, ...] = tuple(d.value for d in Direction)
"""``("a2b", "b2a")``: the accepted spellings, in order."""


class DirectionError(OptionError):
    """A direction that is neither ``a2b`` nor ``b2a`` (an :class:`~volo_adapt.errors.OptionError` of the option
    ``direction``, so a front end re-words it with :func:`~volo_adapt.errors.options_named`)."""


def parse_direction(value: str | Direction) -> Direction:
    """``"a2b"`` / ``"b2a"`` (any case) or a :class:`Direction` -> :class:`Direction`.

    Raises:
        DirectionError: any other value, with a one-line message naming the accepted values.
    """
    if isinstance(value, Direction):
        return value
    try:
        return Direction(str(value).strip().lower())
    except ValueError:
        raise DirectionError("direction", f"must be one of {', '.join(DIRECTIONS)}", value=repr(value)) from None
