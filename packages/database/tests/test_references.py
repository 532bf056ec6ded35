"""db-check-refs: ids in one database that point at rows missing from another, or gone there."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from atriz_database import ConfigurationError, DatabaseTarget, Reference, TargetRegistry
from atriz_database.cli.db import check_refs_main
from atriz_database.references import check_references
from atriz_database.testing import MakeDatabase, sample_target

AUTHOR = Reference("notes.author_id", "people", "people.id", live_when="deleted_at IS NULL")
# KNOWN has a row in `people`; GONE and NEVER (deleted, or never there) have none; LEFT has a
# row marked deleted.
KNOWN, GONE, NEVER, LEFT = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def fill(url: str, schema: str, insert: str, rows: list[tuple[uuid.UUID | None]]) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(schema)
        with connection.cursor() as cursor:
            cursor.executemany(insert, rows)


@pytest.fixture
def databases(
    tmp_path: Path, make_database: MakeDatabase, monkeypatch: pytest.MonkeyPatch
) -> tuple[DatabaseTarget, DatabaseTarget]:
    """Two targets, `people` and `notes`, whose notes point at people in the other database."""
    people = sample_target(tmp_path / "people", name="people")
    notes = replace(
        sample_target(tmp_path / "notes", name="notes", depends_on=("people",)),
        references=(AUTHOR,),
    )
    for target in (people, notes):
        monkeypatch.setenv(target.url_env, make_database(target.name))
    fill(
        url_of(people),
        "CREATE TABLE people (id uuid PRIMARY KEY, deleted_at timestamptz)",
        "INSERT INTO people (id, deleted_at) VALUES (%s, CASE WHEN %s THEN now() END)",
        [(KNOWN, False), (LEFT, True)],
    )
    fill(
        url_of(notes),
        "CREATE TABLE notes (id serial, author_id uuid)",
        "INSERT INTO notes (author_id) VALUES (%s)",
        [(KNOWN,), (KNOWN,), (GONE,), (NEVER,), (LEFT,), (None,)],
    )
    return people, notes


def url_of(target: DatabaseTarget) -> str:
    return os.environ[target.url_env]


@pytest.mark.parametrize("batch_size", [1, 2, 10_000])
def test_missing_ids_are_found_whatever_the_batch(
    databases: tuple[DatabaseTarget, DatabaseTarget], batch_size: int
) -> None:
    people, notes = databases

    [check] = check_references(
        notes, url_of(notes), lambda _: url_of(people), batch_size=batch_size
    )

    assert check.reference == AUTHOR
    assert check.checked == 4  # distinct, NULL left out
    assert sorted(check.missing) == sorted([GONE, NEVER])
    assert check.gone == [LEFT]


def test_db_check_refs_lists_the_dangling_ids_and_fails(
    databases: tuple[DatabaseTarget, DatabaseTarget], capsys: pytest.CaptureFixture[str]
) -> None:
    people, notes = databases

    with pytest.raises(SystemExit) as exit_code:
        check_refs_main(["all"], registry=TargetRegistry([people, notes]))

    out = capsys.readouterr().out
    assert exit_code.value.code == 1
    assert "people (" in out
    assert "no references declared" in out
    assert "notes.author_id -> people people.id: 4 ids, 2 missing, 1 gone" in out
    assert f"missing  {GONE}" in out
    assert f"missing  {NEVER}" in out
    assert f"gone     {LEFT}" in out
    assert str(KNOWN) not in out


def test_db_check_refs_passes_once_every_id_has_its_row(
    databases: tuple[DatabaseTarget, DatabaseTarget], capsys: pytest.CaptureFixture[str]
) -> None:
    people, notes = databases
    with psycopg.connect(url_of(people), autocommit=True) as connection:
        connection.execute("INSERT INTO people (id) VALUES (%s), (%s)", (GONE, NEVER))
        connection.execute("UPDATE people SET deleted_at = NULL WHERE id = %s", (LEFT,))

    with pytest.raises(SystemExit) as exit_code:
        check_refs_main(["notes"], registry=TargetRegistry([people, notes]))

    assert exit_code.value.code == 0
    assert "4 ids, 0 missing, 0 gone" in capsys.readouterr().out


def test_ids_the_app_keeps_as_history_are_not_reported(
    databases: tuple[DatabaseTarget, DatabaseTarget],
) -> None:
    people, notes = databases
    with psycopg.connect(url_of(notes), autocommit=True) as connection:
        connection.execute("CREATE TABLE removed (person_id uuid PRIMARY KEY)")
        connection.execute("INSERT INTO removed VALUES (%s)", (LEFT,))
    kept = replace(AUTHOR, kept_in="removed.person_id")

    [check] = check_references(
        replace(notes, references=(kept,)), url_of(notes), lambda _: url_of(people)
    )

    assert check.checked == 3
    assert (sorted(check.missing), check.gone) == (sorted([GONE, NEVER]), [])


REPAIR_MODULE = """
import psycopg

def forget_authors(url, ids):
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("UPDATE notes SET author_id = NULL WHERE author_id = ANY(%s)", (ids,))
    print(f"forgot {len(ids)} authors")
"""


def test_db_check_refs_fix_applies_the_targets_policy_then_checks_again(
    databases: tuple[DatabaseTarget, DatabaseTarget],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    people, notes = databases
    (tmp_path / "notes_policy.py").write_text(REPAIR_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    notes = replace(notes, repair="notes_policy:forget_authors")

    with pytest.raises(SystemExit) as exit_code:
        check_refs_main(["notes", "--fix"], registry=TargetRegistry([people, notes]))

    out = capsys.readouterr().out
    assert exit_code.value.code == 0, out
    assert "forgot 3 authors" in out
    assert "applied notes_policy:forget_authors to 3 ids; checking again" in out
    assert out.rstrip().endswith("1 ids, 0 missing, 0 gone")  # KNOWN's notes are untouched


def test_db_check_refs_fix_without_a_declared_repair_says_so(
    databases: tuple[DatabaseTarget, DatabaseTarget], capsys: pytest.CaptureFixture[str]
) -> None:
    people, notes = databases

    with pytest.raises(SystemExit) as exit_code:
        check_refs_main(["notes", "--fix"], registry=TargetRegistry([people, notes]))

    assert exit_code.value.code == 1
    assert "declares no repair for its references" in capsys.readouterr().err


def test_a_malformed_reference_is_a_configuration_error(
    databases: tuple[DatabaseTarget, DatabaseTarget],
) -> None:
    people, notes = databases
    broken = replace(notes, references=(Reference("author_id", "people", "people.id"),))

    with pytest.raises(
        ConfigurationError, match=re.escape("'author_id' is not of the form table.column")
    ):
        check_references(broken, url_of(notes), lambda _: url_of(people))
