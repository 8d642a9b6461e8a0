"""The runtime a command works with: opened on entry, closed on every way out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fincert.config import Settings
    from fincert.runtime import Runtime

#: Set while ``init`` (and ``serve``, which initialises when needed) opens the runtime: the only
#: commands that may create a home. Every other command refuses an uninitialised one.
creating_home: ContextVar[bool] = ContextVar("fincert_cli_creating_home", default=False)


@contextmanager
def open_cli_runtime(*, initialising: bool = False, serving: bool = False) -> Iterator[Runtime]:
    """``with open_cli_runtime() as rt:`` closes ``rt`` however the body ends (return, domain error, typer.Exit, anything).

    Errors pass through untouched: ``fincert.cli.main.run`` maps them to one line on stderr and an exit code.
    ``serving`` (``fincert serve``) keeps the service's INFO logs; a one-shot command reports by its output.
    """
    from fincert.cli import main  # lazily: cli.main imports the command modules while it is being built

    quiet_logs(serving=serving)
    token = creating_home.set(initialising)
    try:
        rt = main.runtime()
    finally:
        creating_home.reset(token)
    try:
        yield rt
    finally:
        rt.close()


_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"  # as open_runtime's


def quiet_logs(*, serving: bool = False) -> None:
    """A one-shot command's stderr is its one error line: INFO records ("published CRL 7 ...")
    used to come before it (`crl --out` on a full disk printed three lines), so such a command
    logs from WARNING unless FINCERT_LOG_LEVEL asks otherwise. pyHanko logs a failed path
    building as a WARNING with a whole traceback, which `verify` already reports in its own
    words ("no certificate path to a trust root"): kept only at DEBUG."""
    import logging
    import os

    level = os.environ.get("FINCERT_LOG_LEVEL")
    if level is None and not serving:
        logging.basicConfig(level=logging.WARNING, format=_LOG_FORMAT)  # open_runtime's call is then a no-op
    if (level or "").strip().upper() != "DEBUG":
        for name in ("pyhanko", "pyhanko_certvalidator"):
            logging.getLogger(name).setLevel(logging.ERROR)


def load_settings() -> Settings:
    """``Settings()`` from the environment, a malformed variable reported by name (never by value:
    it may be a passphrase or the master key)."""
    import pydantic

    from fincert.config import Settings
    from fincert.errors import ConfigurationError

    try:
        return Settings()
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"FINCERT_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigurationError(f"invalid setting {problems}") from None


def checked_settings(*, initialising: bool = False) -> Settings:
    """The settings of a command, refused before anything is written: production secrets first
    (that message matters more), then a FINCERT_HOME that is a file, then (unless the command
    is the one that initialises) a home ``fincert init`` never set up."""
    settings = load_settings()
    settings.check_production()
    _check_home(settings)
    if not initialising:
        _require_initialised(settings)
    return settings


def _check_home(settings: Settings) -> None:
    """FINCERT_HOME, when it exists, is a folder (for ``init`` too: "File exists" from mkdir
    does not say which file)."""
    from fincert.errors import ConfigurationError

    home = settings.resolved_home
    if home.exists() and not home.is_dir():
        raise ConfigurationError(f"FINCERT_HOME {home} is a file, not a folder")


def _require_initialised(settings: Settings) -> None:
    """Refuse a home that ``fincert init`` never set up, before anything is written to it.

    Without this every command quietly created the folder, an empty SQLite database and fresh
    development secrets, then answered as if the deployment existed but was empty. The
    database (the embedded default or FINCERT_DATABASE_URL) is asked whether it holds a CA (its
    ``authorities`` table with a row) before the runtime would create the schema in it; a
    missing embedded file is not opened (connecting would create it).
    """
    from fincert.errors import ConfigurationError

    # The embedded database is asked too, not only looked for: an empty fincert.db (a `touch`,
    # an `init` that failed on a full disk) used to pass, get the schema and fresh secrets, and
    # answer as an empty deployment.
    if _database_holds_no_ca(settings.resolved_database_url):
        raise ConfigurationError("the CA is not initialised: run `fincert init`")  # as the CA says it, word for word


def _database_holds_no_ca(url: str) -> bool:
    """True when the database answers and has no CA in it; False when it holds one or cannot be
    asked (``open_configured`` then reports why, in its words)."""
    import sqlalchemy
    import sqlalchemy.exc

    try:
        parsed = sqlalchemy.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            if not Path(parsed.database).is_file():
                return True  # connecting would create the file
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    except (sqlalchemy.exc.ArgumentError, ModuleNotFoundError):
        return False
    try:
        with engine.connect() as connection:
            if not sqlalchemy.inspect(connection).has_table("authorities"):
                return True
            return connection.execute(sqlalchemy.text("SELECT 1 FROM authorities LIMIT 1")).first() is None
    except sqlalchemy.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def open_configured(settings: Settings) -> Runtime:
    """``open_runtime`` with the ways a deployment's configuration fails as typed errors.

    The database URL is shown without its password; the driver's reason is its first line only.
    (`ocsp serve` opens its own runtimes; `run` reports their database errors on one line too.)
    """
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    from fincert.errors import ConfigurationError, brief_reason
    from fincert.runtime import open_runtime

    try:
        return open_runtime(settings)
    except (sqlalchemy.exc.ArgumentError, ModuleNotFoundError) as exc:
        raise ConfigurationError(
            "FINCERT_DATABASE_URL is not a database URL fincert can use "
            f"({type(exc).__name__}); expected e.g. postgresql+psycopg://USER@HOST/DB or sqlite:///PATH"
        ) from None
    except sqlalchemy.exc.DBAPIError as exc:
        # open_runtime parsed the URL already, so make_url cannot fail here.
        url = make_url(settings.resolved_database_url)
        shown = url.render_as_string(hide_password=True)
        raise ConfigurationError(f"cannot open the database {shown}: {brief_reason(exc, hide=url.password)}") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot use FINCERT_HOME {settings.resolved_home}: {exc.strerror or exc}") from None
