"""Reading published raw text formats (MIND TSV, Amazon CSV/JSON lines) into polars, safely.

Every failure becomes one ``DataError`` that names the file, the line and what was
expected, instead of a parser traceback. Lines are split and checked with vectorised
polars string operations, so files with millions of lines stay fast.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import polars as pl

from padlib.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"


def require_file(path: str | os.PathLike[str], what: str) -> Path:
    """The path as a ``Path``, or a ``DataError`` saying which input is missing."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected the {what})")
    return path


def read_bytes(path: Path, what: str) -> bytes:
    """The file's bytes, gunzipped (as often as it was gzipped) when it starts with the gzip magic number."""
    raw = path.read_bytes()
    layers = 0
    while raw.startswith(GZIP_MAGIC):
        layers += 1
        inner = " inside gzip" * (layers - 1)
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt or truncated gzip data{inner} ({exc}); expected the {what}") from exc
    if not raw or raw.isspace():
        raise DataError(f"{path}: the file is empty (expected the {what})")
    return raw


def decode_utf8(raw: bytes, path: Path) -> str:
    """Decode UTF-8 (a leading BOM is dropped), naming the byte offset and line of the first bad byte."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{path}: line {line}: byte offset {exc.start} (0x{raw[exc.start]:02x}) is not valid UTF-8; "
            "expected UTF-8 text (re-encode the file, e.g. `iconv -t UTF-8`)"
        ) from exc


def line_count(raw: bytes) -> int:
    """Number of lines, counting a last line without a newline."""
    return raw.count(b"\n") + (not raw.endswith(b"\n"))


def text_lines(text: str) -> pl.DataFrame:
    """Non-blank lines of decoded text as columns ``line`` (1-based number) and ``text``."""
    lines = (pl.Series("text", [text]).str.split("\n").explode().str.strip_suffix("\r")
             .to_frame().with_row_index("line", offset=1))
    return lines.filter(pl.col("text").str.strip_chars() != "")


def read_lines(path: Path, what: str) -> pl.DataFrame:
    """Non-blank lines of a UTF-8 (optionally gzipped) text file, see ``text_lines``."""
    return text_lines(decode_utf8(read_bytes(path, what), path))


def split_fields(lines: pl.DataFrame, separator: str, names: list[str], path: Path) -> pl.DataFrame:
    """Split each line into exactly ``len(names)`` fields (no quoting), keeping ``line``."""
    counts = lines["text"].str.count_matches(separator, literal=True) + 1
    bad = counts != len(names)
    if bad.any():
        row = int(bad.arg_max())
        sep_name = {"\t": "tab", ",": "comma"}.get(separator, repr(separator))
        raise DataError(
            f"{path}: line {lines['line'][row]}: {counts[row]} {sep_name}-separated fields, expected {len(names)} "
            f"({', '.join(names)})"
        )
    parts = pl.col("text").str.split(separator)
    return lines.select("line", *[parts.list.get(i).alias(name) for i, name in enumerate(names)])


def _fast_fields(raw: bytes, separator: str, names: list[str]) -> pl.DataFrame | None:
    """Parse with polars' CSV reader when every line provably has exactly ``len(names)`` fields, else None.

    polars pads short lines silently, so the proof is: no line has too many fields (polars
    raises), no line is missing (one row per line) and the separators add up to
    ``rows * (fields - 1)``.
    """
    try:
        frame = pl.read_csv(raw, has_header=False, separator=separator, quote_char=None, infer_schema=False,
                            new_columns=names, empty_string_is_null=False)
    except pl.exceptions.PolarsError:
        return None
    if frame.height != line_count(raw) or raw.count(separator.encode()) != frame.height * (len(names) - 1):
        return None
    return frame.with_row_index("line", offset=1)


def read_fields(path: Path, separator: str, names: list[str], what: str) -> pl.DataFrame:
    """A headerless, unquoted delimited file as columns ``line`` plus ``names`` (all text).

    The fast polars reader (which also rejects invalid UTF-8) is used when its result is
    provably right; otherwise the line-by-line split finds and names the offending line.
    """
    raw = read_bytes(path, what)
    fast = _fast_fields(raw.removeprefix(UTF8_BOM), separator, names)
    if fast is not None:
        return fast
    return split_fields(text_lines(decode_utf8(raw, path)), separator, names, path)


def first_bad(frame: pl.DataFrame, bad: pl.Series) -> dict[str, object] | None:
    """The first row of ``frame`` where ``bad`` is true, as a dict, or None."""
    if not bad.any():
        return None
    return frame.row(int(bad.arg_max()), named=True)


def parse_float(frame: pl.DataFrame, column: str, path: Path, expected: str) -> pl.Series:
    """``column`` as f64; a ``DataError`` naming the line of the first value that is not a finite number."""
    values = frame[column].str.strip_chars().cast(pl.Float64, strict=False)
    row = first_bad(frame, values.is_null() | ~values.is_finite())
    if row is not None:
        raise DataError(f"{path}: line {row['line']}: {column} {row[column]!r} is not a number; expected {expected}")
    return values
