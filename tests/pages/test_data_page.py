"""The Data page: load a sample or a CSV, choose target, task, roles, scaling and split."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nncore.config import DataSpec, Experiment
from nncore.data.ingest import read_table
from nncore.data.samples import SAMPLES, load_sample
from nncore.errors import DataError
from tests.limits import OVER, SETTINGS, STARTS
from tests.pages.workspaces import session, token_of
from ui import Keys, md

APP = str(Path(__file__).resolve().parents[2] / "app.py")

GOOD_CSV = b"size;colour;price;label\n" + b"".join(
    f"{i},5;{'red' if i % 3 else 'blue'};{100 + 7 * i};{'yes' if i % 2 else 'no'}\n".encode()
    for i in range(40)
)
# As analysts' files often are: the target (price) in the middle, the last column a year with
# three whole-number values that auto would call classes.
HOUSES_CSV = b"rooms,smoker,price,year\n" + b"".join(
    f"{2 + i % 5},{'yes' if i % 4 else 'no'},{150 + 13 * i}.5,{2019 + i % 3}\n".encode()
    for i in range(40)
)
WORKBOOK = b"PK\x03\x04" + bytes(200)  # a zip archive, as .xlsx files are


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def joined(elements) -> str:
    return "\n".join(texts(elements))


@pytest.fixture
def at() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=30)
    app.run()
    assert not app.exception
    return app


def click_sample(at: AppTest, name: str = "iris") -> AppTest:
    at.button(key=f"sample_{name}").click().run()
    assert not at.exception
    return at


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="upload").set_value((name, data, "text/csv")).run()
    assert not at.exception
    return at


def spec(at: AppTest) -> DataSpec:
    return at.session_state[Keys.EXPERIMENT].data


def choose_target(at: AppTest, column: str) -> AppTest:
    at.selectbox(key="target").select(column).run()
    assert not at.exception
    return at


def test_first_visit_offers_one_button_per_sample(at):
    assert [b.key for b in at.main.button] == [f"sample_{name}" for name in SAMPLES]
    assert [b.label for b in at.main.button] == [s.title for s in SAMPLES.values()]
    assert at.file_uploader(key="upload")
    assert "Pick a sample or upload a CSV" in joined(at.info)
    assert not at.error and not at.selectbox
    assert at.session_state[Keys.DATASET] is None


@pytest.mark.parametrize("name", list(SAMPLES))
def test_one_click_loads_a_sample_with_its_target_and_task(at, name):
    sample = SAMPLES[name]
    click_sample(at, name)
    assert at.subheader[0].value == sample.title
    assert at.selectbox(key="target").value == sample.target
    assert at.selectbox(key="task").value == "auto"
    assert f"**Task:** {sample.task}: " in joined(at.markdown)
    assert spec(at) == DataSpec(target=sample.target)
    assert at.session_state[Keys.PLAN].task == sample.task
    rows, columns = load_sample(name).shape
    assert f"{rows:,} rows × {columns} columns" in joined(at.caption)
    assert at.dataframe[0].value.shape == (min(rows, 50), columns)
    assert not at.error


def test_the_task_is_shown_with_its_reason_and_classes(at):
    click_sample(at, "breast_cancer")
    assert "**Task:** binary: 2 distinct values, benign/malignant" in texts(at.markdown)
    assert "Classes: benign, malignant" in texts(at.caption)


def test_an_uploaded_csv_is_read_as_written_and_predicts_the_column_picked(at):
    upload(at, "prices.csv", GOOD_CSV)
    assert at.subheader[0].value == "prices.csv"
    assert "separator ';', decimal ','" in joined(at.caption)
    assert "40 rows × 4 columns" in joined(at.caption)
    assert at.selectbox(key="target").value is None
    choose_target(at, "label")
    assert spec(at).target == "label"
    assert at.session_state[Keys.PLAN].task == "binary"
    assert list(at.session_state[Keys.DATASET].columns) == ["size", "colour", "price", "label"]
    assert at.session_state[Keys.DATASET]["size"].iloc[1] == 1.5


def test_an_unreadable_file_says_why_and_keeps_the_loaded_dataset(at):
    click_sample(at, "iris")
    upload(at, "book.xlsx", WORKBOOK)
    assert "zip archive" in joined(at.error)
    assert "Still using Iris flowers." in texts(at.caption)
    assert at.session_state[Keys.DATASET_NAME] == "Iris flowers"
    assert at.session_state[Keys.DATASET].shape == (150, 5)
    assert at.selectbox(key="target").value == "species"
    # The error stays while the bad file is in the uploader; a good load clears it.
    at.run()
    assert "zip archive" in joined(at.error)
    click_sample(at, "wine")
    assert not at.error
    assert at.session_state[Keys.DATASET_NAME] == "Wine"


def test_a_table_over_the_cell_limit_is_refused_and_the_loaded_dataset_kept(at, monkeypatch):
    monkeypatch.setenv("NNSTUDIO_MAX_CELLS", "100")
    click_sample(at, "iris")  # 750 cells: the limit applies to uploads and samples alike
    assert "750 cells, more than the 100 this studio takes" in joined(at.error)
    monkeypatch.setenv("NNSTUDIO_MAX_CELLS", "1000")
    click_sample(at, "iris")
    upload(at, "big.csv", GOOD_CSV)  # 40 rows × 4 columns fit
    assert at.session_state[Keys.DATASET].shape == (40, 4)
    monkeypatch.setenv("NNSTUDIO_MAX_CELLS", "150")
    upload(at, "bigger.csv", GOOD_CSV + GOOD_CSV.split(b"\n", 1)[1])
    assert "80 rows × 4 columns = 320 cells" in joined(at.error)
    assert at.session_state[Keys.DATASET].shape == (40, 4)
    assert at.session_state[Keys.DATASET_NAME] == "big.csv"


@pytest.mark.parametrize("kind", list(OVER))
def test_an_upload_over_a_limit_gets_the_one_refusal_of_every_door(at, monkeypatch, kind):
    for setting, value in SETTINGS.items():
        monkeypatch.setenv(setting, value)
    with pytest.raises(DataError) as refused:
        read_table(OVER[kind], "big.csv")
    assert str(refused.value).startswith(STARTS[kind])
    upload(at, "big.csv", OVER[kind])
    assert texts(at.error) == [md(str(refused.value))]
    assert at.session_state[Keys.DATASET] is None


def test_an_unreadable_first_file_leaves_the_page_waiting_for_data(at):
    upload(at, "empty.csv", b"")
    assert at.error
    assert at.session_state[Keys.DATASET] is None
    assert "Pick a sample or upload a CSV" in joined(at.info)


def test_an_upload_has_no_target_task_or_classes_until_one_is_picked(at):
    upload(at, "houses.csv", HOUSES_CSV)
    assert at.selectbox(key="target").value is None
    assert at.selectbox(key="target").proto.placeholder == "Choose the column to predict"
    assert spec(at).target == ""
    assert at.session_state[Keys.PLAN] is None
    assert "Task:" not in joined(at.markdown) + joined(at.caption)
    assert "Classes:" not in joined(at.caption)
    assert [s.key for s in at.main.selectbox] == ["target"] and not at.data_editor
    assert not at.error
    # Suggested, each with why; price by its name first, the last column only for its place.
    (suggestions,) = [c.value for c in at.caption if c.value.startswith("Likely targets:")]
    assert suggestions.index("**price**: its name says 'price'") < suggestions.index("**year**")
    assert "**year**: the last column" in suggestions

    at.switch_page("pages/train.py").run()
    assert "Choose a target on the Data step first" in joined(at.info)
    assert "start" not in [b.key for b in at.button]

    at.switch_page("pages/data.py").run()
    assert at.selectbox(key="target").value is None
    choose_target(at, "price")
    assert spec(at).target == "price"
    assert at.session_state[Keys.PLAN].task == "regression"
    assert "**Task:** regression: numbers with 40 distinct values" in texts(at.markdown)
    assert not [c for c in at.caption if c.value.startswith(("Likely targets:", "Classes:"))]
    at.switch_page("pages/train.py").run()
    assert not at.info and at.button(key="start")


def test_the_target_picked_survives_a_reload_and_a_target_never_picked_stays_unpicked(at):
    upload(at, "houses.csv", HOUSES_CSV)
    unpicked = session(token_of(at), "pages/data.py")
    assert unpicked.selectbox(key="target").value is None
    assert unpicked.session_state[Keys.PLAN] is None
    choose_target(at, "smoker")
    reloaded = session(token_of(at), "pages/data.py")
    assert reloaded.selectbox(key="target").value == "smoker"
    assert reloaded.session_state[Keys.PLAN].task == "binary"
    assert "**Task:** binary: 2 distinct values, no/yes" in texts(reloaded.markdown)


def test_an_experiment_file_with_a_target_picks_it(at):
    upload(at, "houses.csv", HOUSES_CSV)
    saved = Experiment(data=DataSpec(target="price", scaling="minmax")).to_json().encode()
    at.file_uploader(key="experiment_upload").set_value(("e.json", saved, "application/json"))
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="target").value == "price"
    assert spec(at) == DataSpec(target="price", scaling="minmax")
    assert "**Task:** regression: numbers with 40 distinct values" in texts(at.markdown)


def test_a_sample_after_an_upload_comes_with_its_own_target_and_an_upload_after_a_sample_without(
    at,
):
    upload(at, "houses.csv", HOUSES_CSV)
    click_sample(at, "wine")
    assert at.selectbox(key="target").value == "cultivar"
    assert at.session_state[Keys.PLAN].task == "multiclass"
    upload(at, "houses.csv", HOUSES_CSV + b"5,no,999.5,2021\n")
    assert at.selectbox(key="target").value is None
    assert spec(at).target == "" and at.session_state[Keys.PLAN] is None


def test_a_new_dataset_resets_target_task_and_roles_but_keeps_scaling_and_split(at):
    click_sample(at, "iris")
    at.selectbox(key="task").select("multiclass")
    at.radio(key="scaling").set_value("robust")
    at.slider(key="validation_fraction").set_value(0.3).run()
    at.session_state["roles"] = {"edited_rows": {0: {"role": "ignore"}}}
    at.run()
    assert spec(at).roles == (("sepal length (cm)", "ignore"),)
    click_sample(at, "diabetes")
    assert spec(at) == DataSpec(target="progression", scaling="robust", validation_fraction=0.3)
    assert at.selectbox(key="task").value == "auto"
    assert at.radio(key="scaling").value == "robust"


def test_changing_the_target_updates_the_spec_and_the_task(at):
    click_sample(at, "iris")
    at.selectbox(key="target").select("petal width (cm)").run()
    assert not at.exception
    assert spec(at).target == "petal width (cm)"
    assert "**Task:** regression: numbers with 22 distinct values" in texts(at.markdown)
    assert "species" in at.data_editor[0].value.index
    assert "petal width (cm)" not in at.data_editor[0].value.index


def test_overriding_the_task_updates_the_spec(at):
    click_sample(at, "diabetes")
    at.selectbox(key="target").select("sex").run()
    assert "**Task:** binary: 2 distinct values, 1/2" in texts(at.markdown)
    at.selectbox(key="task").select("multiclass").run()
    assert spec(at).task == "multiclass"
    assert "**Task:** multiclass, as chosen: 2 distinct values" in texts(at.markdown)


def test_a_task_the_target_cannot_take_is_refused_in_plain_words(at):
    click_sample(at, "iris")
    at.selectbox(key="task").select("binary").run()
    assert not at.exception
    assert "binary needs exactly two" in joined(at.error)
    assert at.session_state[Keys.PLAN] is None
    # Every setting stays on the page, so the user can fix it there.
    for key in ("target", "task"):
        assert at.selectbox(key=key)
    assert at.data_editor(key="roles")
    assert at.radio(key="scaling")
    at.selectbox(key="task").select("auto").run()
    assert not at.error
    assert at.session_state[Keys.PLAN].task == "multiclass"


def test_scaling_and_split_update_the_spec(at):
    click_sample(at, "wine")
    assert "scale your data before fitting" in at.radio(key="scaling").help.lower()
    at.radio(key="scaling").set_value("minmax").run()
    assert spec(at).scaling == "minmax"
    at.slider(key="validation_fraction").set_value(0.25).run()
    at.slider(key="test_fraction").set_value(0.15).run()
    assert (spec(at).validation_fraction, spec(at).test_fraction) == (0.25, 0.15)
    assert not at.exception


def test_a_split_that_leaves_too_few_training_rows_is_refused(at):
    click_sample(at, "wine")
    at.slider(key="validation_fraction").set_value(0.5)
    at.slider(key="test_fraction").set_value(0.4).run()
    assert not at.exception
    assert "under 30% of the rows for training" in joined(at.error)
    assert spec(at).test_fraction == 0.0  # the last valid settings are kept


def test_only_roles_that_differ_from_the_suggestion_are_stored(at):
    click_sample(at, "iris")
    table = at.data_editor(key="roles").value
    assert list(table.columns) == ["kind", "missing", "unique", "suggested", "role", "reason"]
    assert list(table.index) == list(load_sample("iris").columns[:-1])
    at.session_state["roles"] = {
        "edited_rows": {0: {"role": "ignore"}, 1: {"role": "numeric"}, 3: {"role": "categorical"}}
    }
    at.run()
    assert not at.exception
    assert spec(at).roles == (("sepal length (cm)", "ignore"), ("petal width (cm)", "categorical"))
    assert "sepal length (cm): set to ignore" in joined(at.markdown)
    assert dict(at.session_state[Keys.PLAN].features)["petal width (cm)"] == "categorical"
    at.session_state["roles"] = {"edited_rows": {0: {"role": "numeric"}}}
    at.run()
    assert spec(at).roles == (("petal width (cm)", "categorical"),)


def test_a_role_the_values_cannot_take_is_refused(at):
    click_sample(at, "iris")
    at.session_state["roles"] = {"edited_rows": {0: {"role": "datetime"}}}
    at.run()
    assert not at.exception
    assert "cannot be a datetime column" in joined(at.error)


def test_leaving_no_column_to_learn_from_says_so(at):
    click_sample(at, "iris")
    at.session_state["roles"] = {"edited_rows": {i: {"role": "ignore"} for i in range(4)}}
    at.run()
    assert not at.exception
    assert "No column is left to learn from" in joined(at.error)
    assert at.session_state[Keys.PLAN] is None


def test_a_constant_target_is_refused_in_plain_words(at):
    upload(at, "flat.csv", b"x,z,cost ($)\n1,a,3\n2,b,3\n3,a,3\n4,b,3\n")
    choose_target(at, "cost ($)")
    message = joined(at.error)
    assert "has the same value" in message and "nothing to learn" in message
    assert r"cost (\$)" in message  # escaped, or markdown would read $...$ as maths
    assert at.session_state[Keys.PLAN] is None
    at.selectbox(key="target").select("x").run()
    assert not at.error
    assert at.session_state[Keys.PLAN].target == "x"


def test_every_warning_is_shown(at):
    upload(at, "tiny.csv", b"a,b,label\n1,x,yes\n2,y,no\n3,x,yes\n4,y,no\n5,x,yes\n6,y,no\n")
    choose_target(at, "label")
    warnings = at.session_state[Keys.PLAN].warnings
    assert len(warnings) >= 2  # 'b' copies the label, and far too few rows
    assert texts(at.warning) == list(warnings)


def test_widgets_are_seeded_from_the_stored_settings():
    """What a return from another page looks like: the widgets' own state is gone."""
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state[Keys.DATASET] = load_sample("iris")
    at.session_state[Keys.DATASET_NAME] = "iris.csv"
    at.session_state[Keys.EXPERIMENT] = Experiment(
        data=DataSpec(
            target="sepal width (cm)",
            task="regression",
            scaling="none",
            roles=(("species", "ignore"),),
            validation_fraction=0.1,
            test_fraction=0.2,
        )
    )
    at.run()
    assert not at.exception
    assert at.selectbox(key="target").value == "sepal width (cm)"
    assert at.selectbox(key="task").value == "regression"
    assert at.radio(key="scaling").value == "none"
    assert at.slider(key="validation_fraction").value == 0.1
    assert at.slider(key="test_fraction").value == 0.2
    assert at.data_editor(key="roles").value.loc["species", "role"] == "ignore"
    assert spec(at).roles == (("species", "ignore"),)


def test_the_server_side_never_imports_tensorflow():
    """In a fresh process: other tests in this session may have imported TensorFlow."""
    code = textwrap.dedent(
        f"""
        import sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({APP!r}, default_timeout=60).run()
        at.button(key="sample_breast_cancer").click().run()
        at.file_uploader(key="upload").set_value(("a.csv", b"x,y\\n1,a\\n2,b\\n3,a\\n", "")).run()
        at.selectbox(key="target").select("y").run()
        assert not at.exception, at.exception
        assert at.session_state["{Keys.PLAN}"] is not None
        print("tensorflow" in sys.modules, "keras" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(APP).parent,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_a_customer_code_column_is_an_identifier_left_out_with_the_reason(at):
    rows = "".join(
        f"CUST-{397864343 + 7919 * i},{i % 5},{'yes' if i % 2 else 'no'}\n" for i in range(15)
    )
    upload(at, "customers.csv", f"customer_id,visits,label\n{rows}".encode())
    choose_target(at, "label")
    table = at.data_editor(key="roles").value
    assert table.loc["customer_id", "kind"] == "identifier"
    assert table.loc["customer_id", "role"] == "ignore"
    assert table.loc["customer_id", "reason"] == "identifier: a different code on every row"
    assert "customer_id" not in dict(at.session_state[Keys.PLAN].features)
    assert md("customer_id: identifier: a different code on every row") in joined(at.markdown)


def test_the_plan_says_how_each_columns_missing_values_will_be_filled(at):
    rows = [
        f"{'' if i % 5 == 0 else i},{'' if i % 7 == 0 else 'ab'[i % 2]},2024-01-{1 + i % 28:02d},"
        f"{10 * i}"
        for i in range(40)
    ]
    upload(at, "gaps.csv", ("size,kind,day,price\n" + "\n".join(rows) + "\n").encode())
    choose_target(at, "price")
    (fills,) = [m.value for m in at.markdown if m.value.startswith("**Missing values**")]
    assert fills.splitlines()[1:] == [
        "- size (8 missing): with the column's median in the training rows",
        '- kind (6 missing): as a category of their own, "(missing)"',
    ]
    upload(at, "full.csv", b"size,price\n" + b"".join(f"{i},{i}\n".encode() for i in range(30)))
    choose_target(at, "price")
    assert not [m for m in at.markdown if m.value.startswith("**Missing values**")]


def test_a_next_link_to_the_model_once_a_target_is_picked(at):
    upload(at, "houses.csv", HOUSES_CSV)
    assert not at.get("page_link")
    choose_target(at, "price")
    (link,) = at.get("page_link")
    assert link.proto.page == "model" and link.proto.label == "Next: Model"
    assert "double-click its cell in the **role** column" in joined(at.caption)
