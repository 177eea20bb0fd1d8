"""What the CLI says when the environment, not the data, is wrong: no credentials, no region, no network,
a path that is a folder or a file in the way, a closed pipe. One clear line and exit 2, never a traceback.

`main` sends every exception a command lets through here; what is not recognised is re-raised (a bug
should show its traceback to whoever reports it).
"""

from __future__ import annotations

import errno
import os
import sys

from forgeflow.errors import InputError

# Why a path failed and what to do, by errno.
PATH_HINTS = {
    errno.EISDIR: "it is a folder: give a file path",
    errno.EEXIST: "a file is in the way: remove it or give another path",
    errno.ENOTDIR: "a file is in the way where a folder is needed: give a folder path",
    errno.ENOENT: "create the folder first, or give another path",
    errno.EACCES: "check the permissions of the path",
    errno.EROFS: "the file system is read-only: give another path",
    errno.ENOSPC: "free some disk space or give another path",
}
CREDENTIALS_HINT = "set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run `aws configure`"


def translate(error: BaseException) -> InputError | None:
    """The InputError (exit 2) an environment failure means; None if it is not one."""
    if isinstance(error, OSError):
        return _os_error(error)
    if "botocore" not in sys.modules:  # deferred: botocore is loaded only by commands that use AWS
        return None
    from botocore import exceptions as aws

    if isinstance(error, aws.NoCredentialsError | aws.PartialCredentialsError):
        return InputError("no usable AWS credentials found", code="NO_CREDENTIALS", hint=CREDENTIALS_HINT)
    if isinstance(error, aws.NoRegionError):
        return InputError(
            "no AWS region configured",
            code="NO_REGION",
            hint="pass --region where the command has it, or set AWS_DEFAULT_REGION",
        )
    if isinstance(error, aws.ProfileNotFound):
        return InputError(str(error), code="NO_CREDENTIALS", hint="see `aws configure list-profiles`")
    if isinstance(error, aws.EndpointConnectionError | aws.ConnectTimeoutError):
        return InputError(
            f"cannot reach AWS: {error}",
            code="NO_NETWORK",
            hint="check the network connection, the region and AWS_ENDPOINT_URL if it is set",
        )
    if isinstance(error, aws.ClientError):
        detail = error.response.get("Error", {})
        return InputError(
            f"AWS refused the request: {detail.get('Code', 'error')}: {detail.get('Message', error)}",
            code="AWS_ERROR",
        )
    if isinstance(error, aws.BotoCoreError):
        return InputError(f"AWS SDK error: {error}", code="AWS_ERROR")
    return None


def _os_error(error: OSError) -> InputError:
    where = error.filename if error.filename is not None else "a file"
    reason = error.strerror or str(error)
    return InputError(f"{where}: {reason}", code="IO_ERROR", hint=PATH_HINTS.get(error.errno or 0))


def silence_broken_pipe() -> None:
    """The reader of stdout went away (`| head`): nothing more can be said there; leave quietly.

    Python's documented recipe: point stdout at devnull so that the interpreter's final flush does not
    raise again (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
