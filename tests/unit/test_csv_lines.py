"""The CSV delta read by line (`connectors/csv_rows.py`): a line the cursor holds is not parsed again. What a
user checks: a delta reports exactly the rows that changed, appeared or went, whatever the line endings, and
a file whose cells hold line breaks (where a line is not a row) is read right too."""

from __future__ import annotations

from pathlib import Path

from peoplesync.connectors.csv_file import CsvConnector, Settings

HEADER = "Employee_ID,Name,Title,Status\n"
ROWS = ["E1,Ada,Scientist,active\n", 'E2,"Hopper, Grace",Admiral,active\n', "E3,Alan,Cryptanalyst,active\n"]


def connector(path: Path) -> CsvConnector:
    return CsvConnector("hr", Settings(path=str(path), key="Employee_ID", active_column="Status",
                                       settle_seconds=0), ["Name", "Title"])


def delta(path: Path, before: str, after: str) -> list[tuple[str, dict[str, str | None], bool]]:
    path.write_bytes(before.encode())
    c = connector(path)
    cursor = c.read().cursor
    path.write_bytes(after.encode())
    return [(o.key, o.attrs, o.removed) for o in c.read(cursor).observations]


def test_given_one_row_edited_then_the_delta_reports_that_row_alone(tmp_path) -> None:
    after = HEADER + ROWS[0] + 'E2,"Hopper, Grace",Rear Admiral,active\n' + ROWS[2]
    assert delta(tmp_path / "hr.csv", HEADER + "".join(ROWS), after) == [
        ("E2", {"Name": "Hopper, Grace", "Title": "Rear Admiral"}, False)]


def test_given_crlf_lines_rewritten_with_lf_then_no_row_changed_and_an_edit_still_shows(tmp_path) -> None:
    crlf = (HEADER + "".join(ROWS)).replace("\n", "\r\n")
    assert delta(tmp_path / "hr.csv", crlf, HEADER + "".join(ROWS)) == []
    assert delta(tmp_path / "hr.csv", crlf, crlf.replace("Alan", "Alan M.")) == [
        ("E3", {"Name": "Alan M.", "Title": "Cryptanalyst"}, False)]


def test_given_rows_added_and_removed_then_the_delta_lists_the_new_and_the_gone(tmp_path) -> None:
    after = HEADER + ROWS[0] + ROWS[2] + "E4,Katherine,Mathematician,active\n"
    assert delta(tmp_path / "hr.csv", HEADER + "".join(ROWS), after) == [
        ("E4", {"Name": "Katherine", "Title": "Mathematician"}, False), ("E2", {}, True)]


def test_given_a_cell_holding_a_line_break_then_each_row_is_read_whole_and_its_edit_shows(tmp_path) -> None:
    multi = 'E2,"Grace\nHopper",Admiral,active\n'
    before = HEADER + ROWS[0] + multi + ROWS[2]
    assert delta(tmp_path / "hr.csv", before, before.replace("Grace\nHopper", "Grace\nM. Hopper")) == [
        ("E2", {"Name": "Grace\nM. Hopper", "Title": "Admiral"}, False)]
    # a file going from one row a line to a cell holding a line break: its hashes are of another kind, so
    # this once every row is reported, each as it now is (the poll's pre-screen drops the unchanged ones)
    assert delta(tmp_path / "hr.csv", HEADER + "".join(ROWS), before) == [
        ("E1", {"Name": "Ada", "Title": "Scientist"}, False), ("E2", {"Name": "Grace\nHopper", "Title": "Admiral"},
                                                              False),
        ("E3", {"Name": "Alan", "Title": "Cryptanalyst"}, False)]


def test_given_a_literal_quote_before_a_cell_going_on_in_the_next_line_then_the_rows_are_not_split(
        tmp_path) -> None:
    """`E1,Ad"a,"x` alone parses as a row with an open quote, so the line path gives way to a full parse:
    its second line `y",Scientist,active` is never taken as a row of its own."""
    before = HEADER + 'E1,Ad"a,"x\ny",active\n' + ROWS[2]
    path = tmp_path / "hr.csv"
    path.write_bytes(before.encode())
    c = connector(path)
    full = c.read()
    assert [(o.key, o.attrs) for o in full.observations] == [
        ("E1", {"Name": 'Ad"a', "Title": "x\ny"}), ("E3", {"Name": "Alan", "Title": "Cryptanalyst"})]
    path.write_bytes(before.replace("x\ny", "x\nz").encode())
    assert [(o.key, o.attrs) for o in c.read(full.cursor).observations] == [
        ("E1", {"Name": 'Ad"a', "Title": "x\nz"})]


def test_given_a_neutralised_formula_then_a_line_read_restores_it(tmp_path) -> None:
    after = HEADER + ROWS[0] + ROWS[1] + "E3,'=SUM(A1),Cryptanalyst,active\n"
    assert delta(tmp_path / "hr.csv", HEADER + "".join(ROWS), after) == [
        ("E3", {"Name": "=SUM(A1)", "Title": "Cryptanalyst"}, False)]


def test_given_a_quiet_read_then_its_cursor_is_the_one_given_and_a_later_edit_and_its_revert_still_show(
        tmp_path) -> None:
    path = tmp_path / "hr.csv"
    path.write_bytes((HEADER + "".join(ROWS)).encode())
    c = connector(path)
    first = c.read().cursor
    quiet = c.read(first)
    assert (quiet.observations, quiet.cursor) == ([], first)  # nothing changed: the cursor string is kept
    path.write_bytes((HEADER + ROWS[0] + ROWS[1] + "E3,Alan,Codebreaker,active\n").encode())
    edited = c.read(quiet.cursor)
    assert [(o.key, o.attrs["Title"]) for o in edited.observations] == [("E3", "Codebreaker")]
    assert edited.cursor != first
    path.write_bytes((HEADER + "".join(ROWS)).encode())  # the edit reverted: the row read as it was is news
    reverted = c.read(edited.cursor)
    assert [(o.key, o.attrs["Title"]) for o in reverted.observations] == [("E3", "Cryptanalyst")]
    # a new process with the kept cursor: it is a real one (the edit again is seen against it)
    path.write_bytes((HEADER + ROWS[0] + ROWS[1] + "E3,Alan,Codebreaker,active\n").encode())
    assert [o.key for o in connector(path).read(quiet.cursor).observations] == ["E3"]


def test_given_the_same_text_written_again_then_nothing_is_read_and_a_one_character_edit_still_is(tmp_path) -> None:
    path = tmp_path / "hr.csv"
    text = HEADER + "".join(ROWS)
    path.write_bytes(text.encode())
    c = connector(path)
    first = c.read().cursor
    path.write_bytes(text.encode())  # rewritten as it was (a re-export): the text is the one the cursor was of
    again = connector(path).read(first)
    assert (again.observations, again.cursor) == ([], first)
    path.write_bytes(text.replace("Ada,", "Adb,").encode())
    assert [(o.key, o.attrs["Name"]) for o in connector(path).read(again.cursor).observations] == [("E1", "Adb")]
