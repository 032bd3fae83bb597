"""The Typer application: a default command, one error path, ``--version`` everywhere."""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from typing import Annotated, Any, Optional, Sequence

import typer
from typer.core import TyperGroup

from .._version import __version__
from ..errors import UpscaleError
from .console import err_console

DEFAULT_COMMAND = "upscale"
ROOT_FLAGS = {"--debug"}
_state = {"debug": bool(os.environ.get("UPSCALE_DEBUG"))}


def route_default(args: list[str], commands: set[str]) -> list[str]:
    """Insert the default command where the first word is not a command name.

    ``upscale photo.jpg -x 4`` becomes ``upscale upscale photo.jpg -x 4``; root flags
    (``--debug``) may come first; ``--help``/``--version`` alone stay with the root.
    """
    i = 0
    while i < len(args) and args[i] in ROOT_FLAGS:
        i += 1
    if i == len(args) or args[i] in commands or args[i] in ("--help", "-h", "--version"):
        return args
    return [*args[:i], DEFAULT_COMMAND, *args[i:]]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"upscale {__version__}")
        raise typer.Exit()


VersionFlag = Annotated[
    bool,
    typer.Option(
        "--version",
        is_eager=True,
        expose_value=False,
        callback=_print_version,
        help="Show the version and exit.",
    ),
]
"""Declared by every command, so ``--version`` answers on every level."""


def _fail(message: str, code: int, exc: Optional[BaseException] = None) -> int:
    if _state["debug"] and exc is not None:
        traceback.print_exception(exc, file=sys.stderr)
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    return code


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's preemption or time limit, ``kill``), raised where the program is.

    It is a KeyboardInterrupt so every cleanup written for Ctrl-C runs for it too: the
    current file's temporary output is removed, training saves its checkpoint.
    """


def _raise_terminated(signum: int, _frame: Any) -> None:
    _state["terminated"] = True  # typer turns the exception into a bare exit 130: remember why
    raise Terminated()


def _on_sigterm() -> Any:
    """Install the SIGTERM handler (main thread only); return the one it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


class DefaultGroup(TyperGroup):
    """Routes unknown first words to the default command and renders every error as one line."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The group's help, then the default command's options: every usage error points here."""
        super().format_help(ctx, formatter)
        default = self.commands[DEFAULT_COMMAND]
        sub = type(ctx)(default, info_name="upscale", parent=ctx)
        formatter.write_paragraph()
        formatter.write_text(f"The default command: upscale {' '.join(default.collect_usage_pieces(sub))}")
        default.format_options(sub, formatter)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, route_default(args, set(self.commands)))

    def main(self, args: Optional[Sequence[str]] = None, *pargs: Any, standalone_mode: bool = True, **kw: Any) -> Any:
        code = self._run(list(sys.argv[1:] if args is None else args), *pargs, **kw)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, args: list[str], *pargs: Any, **kw: Any) -> int:
        _state["debug"] = bool(os.environ.get("UPSCALE_DEBUG"))  # each run starts afresh
        previous, _state["terminated"] = _on_sigterm(), False
        try:
            rv = super().main(args, *pargs, standalone_mode=False, **kw)
            code = rv if isinstance(rv, int) else 0
            return 128 + signal.SIGTERM if code == 130 and _state["terminated"] else code
        except UpscaleError as exc:
            return _fail(str(exc), exc.exit_code, exc)
        except typer.TyperException as exc:  # click's usage and parameter errors
            hint = " (see 'upscale --help')" if getattr(exc, "exit_code", 1) == 2 else ""
            return _fail(exc.format_message() + hint, getattr(exc, "exit_code", 1), exc)
        except (typer.Abort, KeyboardInterrupt) as exc:  # click turns KeyboardInterrupt into Abort
            if _state["terminated"]:
                return _fail("terminated", 128 + signal.SIGTERM, exc)
            return _fail("interrupted", 130, exc)
        except Exception as exc:  # a bug: still one line unless --debug
            return _fail(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", 1, exc)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


app = typer.Typer(
    cls=DefaultGroup,
    name="upscale",
    help="Classic super-resolution networks, measured the way their papers measured them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: it wraps at 80 columns, where rich's option tables cut flag names.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    _version: VersionFlag = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")] = False,
) -> None:
    """upscale IMAGE... --model NAME -x N  (the default command), or one of the commands below."""
    _state["debug"] = _state["debug"] or debug


command = app.command
