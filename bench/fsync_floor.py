#!/usr/bin/env python3
"""The floor under saving many small files durably: how long 200 files of
1 KiB take to write into a directory with no fsync, with an fsync of each
file, with the directory's fsync too (what `sockdemo fetch` does for each
file), and with the files' fsyncs grouped. No network: only the disk.

    python3 bench/fsync_floor.py [DIR]     # default: a new directory in /var/tmp

Not a test: run it by hand on a quiet machine, on the file system the
downloads go to.
"""
import os
import sys
import tempfile
import time

FILES = 200
DATA = os.urandom(1024)


def run(directory, mode, group=1):
    """Seconds to write FILES files into `directory` as `mode` says."""
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    dir_fd = os.open(directory, os.O_RDONLY)
    pending = []

    def place(fd, i):
        os.close(fd)
        os.rename(os.path.join(directory, f"t{i}"), os.path.join(directory, f"f{i}"))

    started = time.perf_counter()
    for i in range(FILES):
        fd = os.open(os.path.join(directory, f"t{i}"), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, DATA)
        if mode == "none":
            place(fd, i)
        elif mode in ("file", "file+dir"):
            os.fsync(fd)
            place(fd, i)
            if mode == "file+dir":
                os.fsync(dir_fd)
        else:  # grouped
            pending.append((fd, i))
            if len(pending) == group or i == FILES - 1:
                for fd2, _ in pending:
                    os.fdatasync(fd2)
                for fd2, j in pending:
                    place(fd2, j)
                os.fsync(dir_fd)
                pending = []
    elapsed = time.perf_counter() - started
    os.close(dir_fd)
    return elapsed


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "/var/tmp"
    with tempfile.TemporaryDirectory(prefix="fsync-floor.", dir=base) as directory:
        print(f"{FILES} files of 1 KiB in {directory}, 3 runs each, milliseconds")
        cases = [("none", 1), ("file", 1), ("file+dir", 1), ("grouped", 10), ("grouped", 50)]
        for mode, group in cases:
            times = [run(directory, mode, group) * 1000 for _ in range(3)]
            label = f"{mode} by {group}" if mode == "grouped" else mode
            print(f"{label:14} " + " ".join(f"{t:6.1f}" for t in times))


if __name__ == "__main__":
    main()
