"""The logs probe: tails the service's logs and classifies consumer errors.

Three sources, one probe:

* **CloudWatch** (boto3, credentials and region from boto3's standard chain): ``StartLiveTail``
  streamed by a background thread into a bounded queue; ``FilterLogEvents`` polling when Live
  Tail is unavailable, denied, rate-limited or ends, and back to Live Tail later. Polling keeps
  ``startTime``/``nextToken`` per group, dedupes by ``eventId`` and spends at most one request a
  second of the account's shared 5 requests/s.
* **a file** (``--log-file``): follows appends, truncation and rotation by offset and inode.
* **a command** (``--log-command``): its stdout and stderr, restarted with backoff when it exits.

I/O only: no Textual here. Failures come back as samples with a named ``error_kind``; every
string that leaves the probe goes through `redact`.

Layout: `base` (the batch, the source protocol, bounded buffers), one module per source
(`cloudwatch`, `file`, `command`), `timestamps` (the time written in a line), `probe` (the probe
and its factory); the sample types live in `wsmonitor.log_samples`. Everything is re-exported
here.
"""

from __future__ import annotations

from wsmonitor.log_samples import LogEvent, LogsSample
from wsmonitor.probes.logs.base import Batch, LogSource
from wsmonitor.probes.logs.base import _BoundedQueue, _Seen  # noqa: F401  (tests reach for them)
from wsmonitor.probes.logs.cloudwatch import (
    AwsFault,
    CloudWatchSource,
    classify_aws_error,
)
from wsmonitor.probes.logs.command import CommandSource, parse_command
from wsmonitor.probes.logs.file import FileSource
from wsmonitor.probes.logs.probe import LogsProbe, build_logs_probe
from wsmonitor.probes.logs.probe import _WindowCounts  # noqa: F401  (tests reach for it)

__all__ = [
    "AwsFault", "Batch", "CloudWatchSource", "CommandSource", "FileSource", "LogEvent",
    "LogSource", "LogsProbe", "LogsSample", "build_logs_probe", "classify_aws_error",
    "parse_command",
]
