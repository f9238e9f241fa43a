"""The text of an item, for the catalog's full-text search (A-RECOVER "via item search").

Mail bodies (the text/plain parts, else the HTML ones without their tags) and files whose name
says they hold text. `should_extract` decides from the item alone, before its content is read;
`head` takes at most `READ_LIMIT` bytes of a content without losing the rest for the writer; and
`extract` returns at most `TEXT_LIMIT` bytes (UTF-8) of text, whitespace collapsed. Damaged MIME,
unknown charsets and binary junk give less text or none, never an exception.

The texts of one backup run wait on disk (`Texts`) until its catalog rows are written, so a run
of any size holds only their offsets in memory.
"""

from __future__ import annotations

import binascii
import re
import tempfile
from collections.abc import Iterator
from email.message import Message
from html.parser import HTMLParser
from itertools import chain
from typing import IO, Any

from backstop.connectors.base import Content, Item

READ_LIMIT = 2 * 2**20  # bytes of content read at most: mail bodies come before attachments
TEXT_LIMIT = 64 * 2**10  # bytes of text kept (UTF-8)

TEXT_EXTENSIONS = frozenset(
    {
        "txt", "text", "md", "markdown", "rst", "csv", "tsv", "json", "xml", "html", "htm", "xhtml",
        "log", "ini", "cfg", "conf", "yaml", "yml", "toml", "rtf", "eml", "tex", "srt", "vtt", "ics",
        "vcf",
    }
)  # fmt: skip
MARKUP = frozenset({"html", "htm", "xhtml", "xml"})
FILE_KINDS = frozenset({"file", "file_version"})

# Runs of white space and C0/C1 controls become one space: NUL is refused by PostgreSQL, the
# others are junk in an index.
_SPACES = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


def extension(name: str) -> str:
    base, dot, ext = name.rpartition(".")
    return ext.lower() if dot and base else ""


def should_extract(item: Item) -> bool:
    """Whether the item's text is worth reading: a message, or a file named like text."""
    if item.kind == "message":
        return True
    return item.kind in FILE_KINDS and extension(item.name or item.path.rpartition("/")[2]) in TEXT_EXTENSIONS


def head(content: Content, limit: int = READ_LIMIT) -> tuple[bytes, Content]:
    """Up to `limit` bytes from the start of `content`, and a content equal to the whole of it
    (the bytes already read followed by the rest): the writer stores it all, memory holds at
    most `limit` bytes more than before."""
    if isinstance(content, bytes | bytearray | memoryview):
        data = bytes(content) if not isinstance(content, bytes) else content
        return data[:limit], data
    if hasattr(content, "read"):
        stream: Any = content
        parts: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = stream.read(limit + 1 - size)
            if not chunk:
                break
            parts.append(bytes(chunk))
            size += len(chunk)
        read = b"".join(parts)
        if size <= limit:
            return read, read
        return read[:limit], chain([read], iter(lambda: bytes(stream.read(2**20)), b""))
    chunks: Iterator[bytes] = iter(content)
    taken: list[bytes] = []
    size = 0
    for chunk in chunks:
        taken.append(bytes(chunk))
        size += len(chunk)
        if size > limit:
            break
    read = b"".join(taken)
    if size <= limit:
        return read, read
    return read[:limit], chain([read], chunks)


def extract(item: Item, data: bytes) -> str:
    """The item's text, at most TEXT_LIMIT bytes of it; "" when there is none or it cannot be
    read. `data` is the content or its first bytes."""
    try:
        data = bytes(data[:READ_LIMIT])
        ext = "" if item.kind == "message" else extension(item.name or item.path.rpartition("/")[2])
        text = _message_text(data) if item.kind == "message" or ext == "eml" else _file_text(data, ext)
        return _clean(text)
    except Exception:  # any damage gives no text; the backup goes on
        return ""


def _clean(text: str) -> str:
    text = _SPACES.sub(" ", text[: TEXT_LIMIT * 4]).strip()
    # Lone surrogates (from undecodable bytes) cannot be stored: replaced.
    raw = text.encode("utf-8", "replace")
    if len(raw) <= TEXT_LIMIT:
        return raw.decode("utf-8")
    return raw[:TEXT_LIMIT].decode("utf-8", "ignore").rstrip()


# -- mail
#
# The bodies are found by splitting on the MIME boundaries with bytes operations, and only each
# part's Content-* fields are read, by the stdlib's `Message`: parsing whole messages line by line
# with `email.feedparser` (through every base64 attachment) costs 170 µs a message with the
# compat32 policy and 850 µs with the default one, against ~300 µs for everything else the
# pipeline does with a message; this costs ~50 µs and gives the same text.

MAX_DEPTH = 8
MAX_PARTS = 100
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_CONTENT_FIELDS = re.compile(rb"^content-[^\n]*(?:\n[ \t][^\n]*)*", re.IGNORECASE | re.MULTILINE)
_FOLDS = re.compile(rb"\r?\n(?=[ \t])|\r$")


def _message_text(data: bytes) -> str:
    plain: list[str] = []
    html: list[str] = []
    _walk(data, 0, plain, html, [MAX_PARTS])
    if plain:
        return "\n".join(plain)
    return "\n".join(strip_markup(h) for h in html)


def _walk(data: bytes, depth: int, plain: list[str], html: list[str], budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        return
    if data.startswith((b"\r\n", b"\n")):
        header_block, body = b"", data.split(b"\n", 1)[1]
    else:
        blank = _BLANK_LINE.search(data)
        header_block, body = (data[: blank.start()], data[blank.end() :]) if blank else (data, b"")
    headers = _content_fields(header_block)
    ctype = headers.get_content_type()
    if _is_attachment(headers):
        return
    if ctype.startswith("multipart/"):
        boundary = headers.get_boundary()
        if not boundary:
            return
        delimiter = b"\n--" + boundary.encode("utf-8", "surrogateescape")
        for part in (b"\n" + body).split(delimiter)[1:]:
            if part.startswith(b"--"):
                break  # the closing delimiter
            part = part.partition(b"\n")[2]  # the rest of the delimiter's line
            _walk(part.removesuffix(b"\r"), depth + 1, plain, html, budget)
    elif ctype == "message/rfc822":
        _walk(body, depth + 1, plain, html, budget)
    elif ctype in ("text/plain", "text/html"):
        text = _decode(_transfer_decoded(body, headers), _charset(headers))
        (plain if ctype == "text/plain" else html).append(text)


def _content_fields(header_block: bytes) -> Message:
    """The part's Content-* fields (all that is read), unfolded, in a stdlib message whose own
    parsing reads their type and parameters (RFC 2231 included)."""
    headers = Message()
    for field in _CONTENT_FIELDS.findall(header_block):
        name, _, value = field.partition(b":")
        value = _FOLDS.sub(b" ", value).strip()
        headers[name.strip().decode("ascii", "replace")] = value.decode("ascii", "surrogateescape")
    return headers


def _is_attachment(headers: Message) -> bool:
    return (headers.get_content_disposition() or "") == "attachment"


def _transfer_decoded(body: bytes, headers: Message) -> bytes:
    encoding = str(headers.get("content-transfer-encoding", "")).strip().lower()
    if encoding == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:  # bad padding: what decodes is kept
            usable = re.sub(rb"[^A-Za-z0-9+/]", b"", body)
            return binascii.a2b_base64(usable[: len(usable) // 4 * 4])
    if encoding == "quoted-printable":
        return binascii.a2b_qp(body)
    return body


def _charset(headers: Message) -> str:
    charset = headers.get_content_charset()
    return charset if isinstance(charset, str) and charset else "utf-8"


# -- files


def _file_text(data: bytes, ext: str) -> str:
    if _looks_binary(data):
        return ""
    text = _decode(data)
    if ext in MARKUP:
        return strip_markup(text)
    if ext == "rtf":
        return _rtf_text(text)
    return text


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False  # UTF-16 with its byte-order mark
    return b"\x00" in sample


def _decode(data: bytes, charset: str | None = None) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    try:
        return data.decode(charset or "cp1252", "replace")
    except LookupError:
        return data.decode("cp1252", "replace")


class _Stripper(HTMLParser):
    SKIP = frozenset({"script", "style", "head", "title", "noscript", "template"})
    BLOCK = frozenset({"br", "p", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self.BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def strip_markup(text: str) -> str:
    """HTML or XML without its tags, scripts and styles; entities decoded."""
    stripper = _Stripper()
    try:
        stripper.feed(text)
        stripper.close()
    except Exception:  # whatever was read before the damage is kept
        pass
    return " ".join(stripper.parts)


_RTF_GROUPS = re.compile(
    r"\{\\\*[^{}]*\}|\{\\(?:fonttbl|colortbl|stylesheet|info)[^{}]*(?:\{[^{}]*\}[^{}]*)*\}"
)
_RTF_HEX = re.compile(r"\\'([0-9a-fA-F]{2})")
_RTF_UNICODE = re.compile(r"\\u(-?\d+) ?\??")
_RTF_WORDS = re.compile(r"\\[a-zA-Z]+-?\d* ?|\\[^a-zA-Z]|[{}]")


def _rtf_text(text: str) -> str:
    """RTF's words, roughly: control words and the font and colour tables dropped."""
    text = _RTF_GROUPS.sub(" ", text)
    text = _RTF_UNICODE.sub(lambda m: chr(int(m.group(1)) % 65536), text)
    text = _RTF_HEX.sub(lambda m: bytes([int(m.group(1), 16)]).decode("cp1252", "replace"), text)
    return _RTF_WORDS.sub(" ", text)


# -- one run's texts, on disk until the catalog rows are written


class Texts:
    """Extracted texts by item key and content version, in an unnamed temporary file."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._end = 0
        self._at: dict[str, tuple[str, int, int]] = {}  # key -> (content_version, offset, length)

    def put(self, key: str, content_version: str, text: str) -> None:
        if not text:
            self._at.pop(key, None)
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="backstop-texts-")  # noqa: SIM115 - closed in close()
        data = text.encode("utf-8")
        self._file.seek(self._end)
        self._file.write(data)
        self._at[key] = (content_version, self._end, len(data))
        self._end += len(data)

    def get(self, key: str, content_version: str) -> str | None:
        """The text kept for this content of the item, or None."""
        at = self._at.get(key)
        if at is None or at[0] != content_version or self._file is None:
            return None
        self._file.seek(at[1])
        return self._file.read(at[2]).decode("utf-8")

    def has(self, key: str, content_version: str) -> bool:
        at = self._at.get(key)
        return at is not None and at[0] == content_version

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._at.clear()
        self._end = 0
