"""Loaded by every Python process of an offline test run (PYTHONPATH): any attempt to reach the
network raises, and is recorded in $POSEPIPE_NETWORK_LOG so the test can assert there was none;
each process that loads it says so in $POSEPIPE_GUARD_LOADED, so that silence means something."""

import os
import socket
import sys

_LOG = os.environ.get("POSEPIPE_NETWORK_LOG")
if _LOADED := os.environ.get("POSEPIPE_GUARD_LOADED"):
    with open(_LOADED, "a") as loaded:
        loaded.write(f"{os.getpid()} {' '.join(getattr(sys, 'argv', []))[:200]}\n")


def _refuse(what: str, target) -> None:
    if _LOG:
        with open(_LOG, "a") as log:
            log.write(f"{os.getpid()} {what} {target!r}\n")
    raise OSError(f"network access blocked by the offline test: {what} {target!r}")


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse("connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse("connect_ex", address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    _refuse("getaddrinfo", host)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.getaddrinfo = getaddrinfo
