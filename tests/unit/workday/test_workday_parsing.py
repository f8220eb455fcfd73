"""Workday report parsing, without a network: report bodies, dates, group paths, terminations."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from peoplesync.connectors.workday import (
    Settings,
    WorkdayConnector,
    clean_entry,
    default_token_url,
    iso_value,
    parse_csv_report,
    parse_json_report,
    resolve,
    worker_state,
)
from peoplesync.ports import PermanentError, ReadFailed
from peoplesync_dev.standins.workday import WorkdayStandin

URL = "https://wd2-impl-services1.workday.com/ccx/service/customreport2/acme/ISU_PeopleSync/People_Sync"
JANE = {"Employee_ID": "21001", "Worker": "Jane Doe", "Legal_Name": "Jane Q Doe", "Email_-_Work": "jane@x.com",
        "Hire_Date": "2020-03-02", "Manager": "John Roe", "Manager_ID": "20001", "Worker_Status": "Active",
        "Emergency_Contacts_group": [{"Name": "Sam Doe", "Relationship": "Spouse", "Phone": "+1 555 0100"},
                                     {"Name": "Ann Doe", "Relationship": "Parent", "Phone": "+1 555 0101"}]}


def settings(**over) -> Settings:
    return Settings.model_validate({"url": URL, **over})


def connector(attributes, *, today=date(2024, 6, 1), **over) -> WorkdayConnector:
    now = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)
    return WorkdayConnector("hr", settings(**over), attributes, credentials={"username": "u", "password": "p"},
                            now=lambda: now)


# --- report bodies ---------------------------------------------------------------------------------------
def test_given_a_json_report_then_its_entries_are_the_report_entry_list():
    assert parse_json_report(json.dumps({"Report_Entry": [JANE]})) == [JANE]


@pytest.mark.parametrize("body", ['{"Report_Entry": []}', "{}"])
def test_given_an_empty_report_either_way_then_there_are_no_entries(body):
    assert parse_json_report(body) == []


@pytest.mark.parametrize("body", ['{"error": "Report execution failed"}', "[1, 2]", "<wd:Report_Data/>"])
def test_given_a_body_that_is_not_a_report_then_the_read_fails(body):
    with pytest.raises(ReadFailed):
        parse_json_report(body)


def test_given_the_same_workers_as_json_and_csv_then_both_parse_to_the_same_observations():
    standin = WorkdayStandin([JANE, {**JANE, "Employee_ID": "21002", "Emergency_Contacts_group": []}])
    entries = standin.entries({})
    attrs = ["Email_-_Work", "Emergency_Contacts_group[].Phone", "Emergency_Contacts_group[1].Name", "Hire_Date"]
    conn = connector(attrs)

    from_json = conn.observations(parse_json_report(standin.as_json(entries)))
    from_csv = conn.observations(parse_csv_report(standin.as_csv(entries)))

    assert from_json == from_csv
    assert from_json[0].attrs["Emergency_Contacts_group[].Phone"] == ("+1 555 0100", "+1 555 0101")
    assert from_json[1].attrs["Emergency_Contacts_group[].Phone"] is None


def test_given_a_csv_with_a_bom_and_quoted_cells_then_it_parses():
    body = '\ufeffEmployee_ID,Worker,Group.A\r\n21001,"Doe, Jane","x\ny"\r\n\r\n'.encode()
    assert parse_csv_report(body) == [{"Employee_ID": "21001", "Worker": "Doe, Jane",
                                       "Group": [{"A": "x"}, {"A": "y"}]}]


# --- values ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "iso"), [
    ("2024-01-15", "2024-01-15"),
    ("2024-01-15-08:00", "2024-01-15"),
    ("2024-01-15Z", "2024-01-15"),
    ("2024-01-15T08:30:00.000-08:00", "2024-01-15T16:30:00Z"),
    ("2024-01-15T08:30:00", "2024-01-15T08:30:00"),
    ("Jane Doe", "Jane Doe"),
    ("21001", "21001"),
])
def test_given_workday_dates_then_they_are_read_as_iso(raw, iso):
    assert iso_value(raw) == iso


def test_given_a_us_date_in_a_date_column_only_then_it_is_read_as_iso():
    assert iso_value("3/2/2020", is_date=True) == "2020-03-02"
    assert iso_value("3/2/2020") == "3/2/2020"  # not declared a date: never guessed


def test_given_json_numbers_and_blanks_then_they_read_like_the_csv_would():
    cleaned = clean_entry({"Employee_ID": 21001, "Base_Pay": 52000.0, "Ratio": 0.5, "Middle_Name": None,
                           "Nick": "", "Is_Manager": "0"})
    assert cleaned == {"Employee_ID": "21001", "Base_Pay": "52000", "Ratio": "0.5", "Is_Manager": "0"}


@pytest.mark.parametrize(("path", "value"), [
    ("Worker", "Jane Doe"),
    ("Missing_Field", None),
    ("Emergency_Contacts_group[].Phone", ("+1 555 0100", "+1 555 0101")),
    ("Emergency_Contacts_group[].Name", ("Sam Doe", "Ann Doe")),
    ("Emergency_Contacts_group[0].Name", "Sam Doe"),
    ("Emergency_Contacts_group[1].Relationship", "Parent"),
    ("Emergency_Contacts_group[5].Name", None),
    ("Emergency_Contacts_group[Relationship=parent].Phone", "+1 555 0101"),
    ("Emergency_Contacts_group[Relationship=Friend].Phone", None),
    ("Emergency_Contacts_group[0]", '{"Name":"Sam Doe","Phone":"+1 555 0100","Relationship":"Spouse"}'),
])
def test_given_emergency_contacts_then_a_path_picks_the_values_it_names(path, value):
    assert resolve(clean_entry(JANE), path) == value


def test_given_a_bare_group_then_each_instance_is_one_json_value():
    contacts = resolve(clean_entry(JANE), "Emergency_Contacts_group")
    assert [json.loads(c)["Name"] for c in contacts] == ["Sam Doe", "Ann Doe"]


# --- who is working --------------------------------------------------------------------------------------
TODAY = date(2024, 6, 1)


@pytest.mark.parametrize(("entry", "expected"), [
    ({}, (True, False)),
    ({"Termination_Date": "2024-05-31"}, (False, False)),  # terminated yesterday
    ({"Termination_Date": "2024-06-01"}, (True, False)),  # today is the last day worked
    ({"Termination_Date": "2024-07-15-07:00"}, (True, False)),  # future-dated: still working
    ({"Termination_Date": "2023-01-31", "Hire_Date": "2024-02-01"}, (True, False)),  # rehired since
    ({"Termination_Date": "not a date"}, (True, False)),
])
def test_given_termination_dates_then_only_past_ones_end_the_worker(entry, expected):
    assert worker_state(clean_entry(entry), settings(), TODAY) == expected


def test_given_terminated_as_removed_then_a_past_termination_is_a_removal():
    assert worker_state({"Termination_Date": "2024-01-01"}, settings(terminated_as="removed"), TODAY) == (False, True)


def test_given_only_a_status_column_then_listed_statuses_end_the_worker():
    s = settings(status_field="Worker_Status", termination_date=None)
    assert worker_state({"Worker_Status": "Terminated"}, s, TODAY) == (False, False)
    assert worker_state({"Worker_Status": "Leave of Absence"}, s, TODAY) == (True, False)


def test_given_an_injected_clock_when_the_termination_date_passes_then_the_worker_turns_inactive():
    entries = [{"Employee_ID": "1", "Termination_Date": "2024-06-30"}]
    before = connector(["Employee_ID"], today=date(2024, 6, 30)).observations(entries)
    after = connector(["Employee_ID"], today=date(2024, 7, 1)).observations(entries)
    assert (before[0].active, after[0].active) == (True, False)


def test_given_the_time_zone_then_today_is_reckoned_there():
    entries = [{"Employee_ID": "1", "Termination_Date": "2024-06-30"}]
    late_utc = datetime(2024, 7, 1, 3, 0, tzinfo=UTC)  # still June 30th in Indianapolis
    conn = WorkdayConnector("hr", settings(timezone="America/Indiana/Indianapolis"), ["Employee_ID"],
                            credentials={"username": "u", "password": "p"}, now=lambda: late_utc)
    assert conn.observations(entries)[0].active is True


def test_given_entries_without_a_key_or_twice_then_they_are_skipped_or_the_last_kept():
    conn = connector(["Worker"])
    obs = conn.observations([{"Worker": "nobody"}, {"Employee_ID": "1", "Worker": "a"},
                             {"Employee_ID": "1", "Worker": "b"}])
    assert [(o.key, o.attrs["Worker"]) for o in obs] == [("1", "b")]
    assert conn.stats == {"entries": 3, "workers": 1, "no_key": 1, "duplicates": 1}


# --- configuration ---------------------------------------------------------------------------------------
def test_given_a_report_url_then_the_token_endpoint_is_the_tenants():
    assert default_token_url(URL) == "https://wd2-impl-services1.workday.com/ccx/oauth2/acme/token"


def test_given_a_secret_without_usable_credentials_then_the_connector_is_refused():
    with pytest.raises(PermanentError, match="username and password"):
        WorkdayConnector("hr", settings(), [], credentials={"username": "u"})


def test_given_a_write_then_it_is_refused_because_hr_is_a_source():
    from peoplesync.model import Write

    conn = connector(["Worker"])
    conn.writable = True  # even if someone forced it
    with pytest.raises(PermanentError, match="read-only"):
        conn.write(Write("hr", "update", "r", "1", {"Worker": "x"}))


def test_given_prompts_and_parts_then_one_url_per_part_carries_them_all():
    conn = connector([], prompts={"Effective_as_of_Date": "2024-06-01"},
                     parts=[{"Hire_Date_From": "2000-01-01"}, {"Hire_Date_From": "2015-01-01"}],
                     url=URL + "?format=json&Company!WID=abc")
    urls = conn._urls()
    assert len(urls) == 2
    assert all("Effective_as_of_Date=2024-06-01" in u and "Company%21WID=abc" in u and u.count("format=") == 1
               for u in urls)
    assert "Hire_Date_From=2015-01-01" in urls[1]
