"""PostgreSQL array literals built in one pass (`{"a",NULL,"b"}`), for the hot statements whose
arrays psycopg would otherwise dump element by element in Python (a type lookup per list and a
regular expression per element): the literal is sent as one text parameter and the statement
casts it (`%s::text[]`, `%s::numeric[]`, ...). Every element is quoted, so any text is safe."""

from collections.abc import Iterable


def array_literal(values: Iterable[object]) -> str:
    """The array literal of `values`: None is NULL; any other value is its `str()` (ints,
    Decimals, aware datetimes and text all read back as themselves), quoted and escaped."""
    return "{" + ",".join(_element(value) for value in values) + "}"


def _element(value: object) -> str:
    if value is None:
        return "NULL"
    text = str(value)
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
