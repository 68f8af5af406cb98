"""bench/RESULTS.md, written section by section: each benchmark script owns the
text between its `<!-- NAME:start -->` and `<!-- NAME:end -->` markers, so a run
replaces its own section and leaves the others (and the prose between them)."""

import os
import re


def write_section(results, section):
    """Replaces the section whose markers `section` starts and ends with, or
    appends it when the file has none yet."""
    marker = re.match(r"<!-- (.+?):start -->", section).group(1)
    text = open(results).read() if os.path.exists(results) else "# Benchmark results\n"
    pattern = re.compile(rf"<!-- {re.escape(marker)}:start -->.*?<!-- {re.escape(marker)}:end -->\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(results, "w").write(text)
