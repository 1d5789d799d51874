"""The watchlist's [patient] profile: the bundled watchlist states only what the family knows,
and a broken value fails with the file, the line of its key and the reason, as the rest does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assess.profile import Treatment
from hccwatch.settings import ConfigError
from hccwatch.watchlist import load_watchlist

BUNDLED = Path(__file__).parents[1] / "hccwatch" / "watchlist.toml"
TOPIC = '[[topics]]\nid = "a"\nterms = ["x"]\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "w.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_watchlist_states_the_known_facts_and_nothing_more():
    patient = load_watchlist(BUNDLED).patient
    assert (patient.label, patient.label_zh, patient.diagnosis, patient.hbv) == \
        ("the patient", "患者", "hcc", "treated")
    assert patient.prior_treatments == (Treatment("tace", "2021-07"), Treatment("tace", "2021-08"))
    assert patient.progressed_after == ("tace",) and patient.no_prior == ("systemic",)
    unknown = (patient.birth_year, patient.sex, patient.bclc, patient.child_pugh_class,
               patient.child_pugh_score, patient.ecog, patient.hcv, patient.vascular_invasion,
               patient.extrahepatic, patient.measurable_disease)
    assert unknown == (None,) * len(unknown)


def test_a_watchlist_without_patient_knows_nothing_about_the_patient(tmp_path):
    patient = load_watchlist(write(tmp_path, TOPIC)).patient
    assert patient.diagnosis is None and patient.prior_treatments == ()


@pytest.mark.parametrize(("patient", "message"), [
    ('child_pugh = "A9"', r"w.toml:6: patient.child_pugh: class A has scores 5-6, not 9"),
    ('sex = "m"', r"w.toml:6: patient.sex: 'm' is not one of male, female"),
    ('prior_treatments = [\n  { kind = "tace", date = "2021-13" },\n]',
     r"w.toml:6: patient.prior_treatments\[0\].date: '2021-13' is not a date"),
    ('smoker = true', r"w.toml:6: patient.smoker: unknown key"),
])
def test_broken_patient_value_names_file_line_and_reason(tmp_path, patient, message):
    text = f'{TOPIC}\n[patient]\n{patient}\n'
    with pytest.raises(ConfigError, match=message):
        load_watchlist(write(tmp_path, text))


def test_patient_that_is_not_a_table(tmp_path):
    with pytest.raises(ConfigError, match=r"w.toml:1: patient: must be a table"):
        load_watchlist(write(tmp_path, 'patient = "dad"\n' + TOPIC))


def test_cli_reports_a_broken_patient_in_one_line(tmp_path, env):
    path = write(tmp_path, f'{TOPIC}\n[patient]\necog = 9\n')
    result = subprocess.run([sys.executable, "-m", "hccwatch.cli", "status"], capture_output=True,
                            text=True, timeout=120, env={**env, "HCCWATCH_WATCHLIST": str(path)})
    assert result.returncode == 2
    assert result.stderr.strip() == f"hccwatch: {path}:6: patient.ecog: 9 is not a whole number 0-4"


def test_check_says_what_the_pre_screen_knows_and_what_it_will_ask(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HCCWATCH_", "NCBI_"))}
    env.update(HCCWATCH_WATCHLIST=str(BUNDLED), HCCWATCH_DB=str(tmp_path / "h.sqlite3"))
    result = subprocess.run([sys.executable, "-m", "hccwatch.cli", "check"], capture_output=True,
                            text=True, timeout=120, env=env, cwd=tmp_path)
    assert ("Patient (for the eligibility pre-screen): known: diagnosis, hepatitis B, TACE 2021-07, "
            "TACE 2021-08, progressed after TACE, no systemic; unknown, asked of the doctor: birth "
            "year, sex, BCLC stage, Child-Pugh, ECOG, hepatitis C, vascular invasion, spread outside "
            "the liver, measurable lesion") in result.stdout
