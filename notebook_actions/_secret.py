"""``Secret``: mark a parameter whose value and default must never leave the kernel."""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin

from pydantic import SecretBytes, SecretStr


class Secret:
    """Marker for ``Annotated[str, Secret]``.

    The parameter's default never appears in a schema, a form or a reply, and a form
    shows it as a password input that starts empty. The action receives the plain
    value. Pydantic's ``SecretStr`` works too (the action then receives a ``SecretStr``).
    """


def is_secret(annotation: Any) -> bool:
    if annotation in (SecretStr, SecretBytes):
        return True
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return any(m is Secret or isinstance(m, Secret) for m in metadata) or is_secret(base)
    return False
