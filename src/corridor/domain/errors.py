"""Domain errors: each carries a reason a person can act on."""


class DomainError(ValueError):
    """Base of every rule violation in the core; the message is the reason."""


class InvalidEquipment(DomainError):
    """A container or wagon number that fails ISO 6346 / UIC rules."""


class UnknownPlace(DomainError):
    """A place that resolves to no location; `candidates` are the nearest valid ones."""

    def __init__(self, message: str, candidates: list[str] | None = None):
        super().__init__(message)
        self.candidates = candidates or []


class AmbiguousPlace(UnknownPlace):
    """A name that fits several locations; `candidates` lists them all."""


class NetworkFileError(DomainError):
    """A network file that cannot be loaded; names the file, the line and the field."""

    def __init__(self, path: str, line: int | None, field: str | None, reason: str):
        where = f"{path}:{line}" if line else path
        where += f" [{field}]" if field else ""
        super().__init__(f"{where}: {reason}")
        self.path, self.line, self.field, self.reason = path, line, field, reason


class CapacityExceeded(DomainError):
    """A reservation that would oversell a departure."""


class InvalidTransition(DomainError):
    """A booking status change the lifecycle does not allow."""
