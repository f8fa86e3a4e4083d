"""What the probes share about exceptions."""

from __future__ import annotations


def exception_chain(exc: BaseException, limit: int = 10) -> list[BaseException]:
    """The exception and its causes (``__cause__``, else ``__context__``), outermost first.

    Libraries wrap the error that names the fault (``ssl.SSLCertVerificationError`` inside
    ``ConnectionError`` inside ``httpx.ConnectError``): classifiers look at the whole chain.
    """
    out: list[BaseException] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen and len(out) < limit:
        out.append(cur)
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return out
