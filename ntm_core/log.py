"""Progress lines for people: stderr from the command line, the task log under Airflow."""

from __future__ import annotations

import logging
import re
import sys
import time

from ntm_core.settings import in_airflow_task

# Characters that change what a reader sees without being seen: control characters (C0, DEL, C1),
# line and paragraph separators, bidirectional controls (they reorder a line: `abc\u202etxt.exe`)
# and lone surrogates (a file name's undecodable bytes).
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSEEN = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029{BIDI_CONTROLS}\\ud800-\\udfff]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def shown(text: str, keep: str = "") -> str:
    """`text` with each control, line-breaking and bidirectional character written as its escape
    (`\\n`, `\\x07`, `\\u202e`), except those in `keep`: what people are shown of text nobody
    checked (a file or folder name), so it can neither break a line nor reorder one."""
    return _UNSEEN.sub(lambda m: m.group() if m.group() in keep else _escape(m.group()), text)


def log(message: str) -> None:
    """Progress lines go to stderr so stdout stays for results; inside an Airflow task they go to
    the task log at INFO level (Airflow files everything written to stderr as an error).

    A message's own line breaks are kept and its further lines indented (a traceback), so no text
    inside a message can pass for a line of its own; other unseen characters are escaped."""
    message = shown(message, keep="\n").replace("\n", "\n    ")
    if in_airflow_task():
        logging.getLogger("ntm").info(message)
    else:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
