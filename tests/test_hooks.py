"""The pre-gen hook rejects bad answers; the post-gen hook prunes, expands and records."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    TEMPLATE_DIR,
    default_answers,
    load_hook,
    run_cookiecutter,
    template_git_copy,
)

INVALID_ANSWERS = [
    ("project_name", ""),
    ("project_name", "   "),
    ("project_name", "🚀🚀"),
    ("project_name", "a" * 300),
    ("project_name", "{{"),
    ("project_name", "Churn {% if x %}"),
    ("project_name", "{{ undefined_name }}"),
    ("project_name", "Churn\nModel"),
    ("project_name", " Churn"),
    ("description", "a {{ b"),
    ("description", "line\tbreak"),
    ("description", "d" * 301),
    ("author_name", ""),
    ("author_name", "{% x"),
    ("author_email", 'a"b@example.com'),
    ("author_email", "a b@example.com"),
    ("author_email", "jane@example"),
    ("author_email", "jane@-example.com"),
    ("github_owner", "my org"),
    ("github_owner", "-acme"),
    ("github_owner", "acme-"),
    ("github_owner", "ac--me"),
    ("github_owner", "acme_corp"),
    ("github_owner", "a" * 40),
    ("package_name", "3d"),
    ("package_name", "class"),
    ("package_name", "match"),
    ("package_name", "json"),
    ("package_name", "test"),
    ("package_name", "pandas"),
    ("package_name", "My-Pkg"),
    ("project_slug", "My Project"),
    ("project_slug", "bad_slug!"),
    ("project_slug", "-x"),
    ("project_slug", "double--hyphen"),
    ("project_slug", "a" * 64),
    ("author_email", "nobody"),
    ("author_email", "a@b"),
    ("environments", "dev,,prod"),
    ("environments", "dev,staging"),
    ("environments", "prod,dev"),
    ("environments", "dev,dev,prod"),
    ("environments", "dev,local,prod"),
    ("environments", "Dev,Prod"),
]

VALID_ENVIRONMENTS = [
    "prod",
    "dev,prod",
    "dev,staging,prod",
    " dev , qa2 ,prod",
    "d" * 15 + ",prod",
]


VALID_FREE_TEXT = [
    ("project_name", "Weather Model"),
    ("project_name", "Prévision Öresund"),
    ("project_name", "数据 Model 🚀"),
    ("project_name", "a" * 80),
    ("description", ""),
    ("description", "Quotes \"double\" and 'single' & <angle> {braces} }}"),
    ("author_name", "Ana Müller-O'Brien"),
    ("author_email", "o'brien+ml@mail.example.co.uk"),
    ("github_owner", "Acme-Corp"),
    ("github_owner", "a" * 39),
]


@pytest.fixture(scope="module")
def pre_gen():
    return load_hook("pre_gen_project")


@pytest.fixture(scope="module")
def post_gen():
    return load_hook("post_gen_project")


# --- pre_gen_project: rules as functions -------------------------------------------


def test_default_answers_are_valid(pre_gen):
    assert pre_gen.validate(default_answers()) == []


@pytest.mark.parametrize(("field", "value"), INVALID_ANSWERS)
def test_validate_names_field_and_value(pre_gen, field, value):
    errors = pre_gen.validate({**default_answers(), field: value})
    assert errors, f"{field}={value!r} was accepted"
    assert all(error.startswith(f"{field} {pre_gen.shown(value)}") for error in errors), errors


@pytest.mark.parametrize(("field", "value"), VALID_FREE_TEXT)
def test_valid_free_text(pre_gen, field, value):
    assert pre_gen.validate({**default_answers(), field: value}) == []


def test_long_values_are_echoed_cut(pre_gen):
    (error,) = pre_gen.validate({**default_answers(), "description": "d" * 5000})
    assert len(error) < 200, error
    assert "(5000 characters)" in error


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"project_name": "🚀"}, "project_name"),
        ({"project_name": "{{"}, "project_name"),
        ({"author_name": "🚀"}, "author_name"),
    ],
)
def test_a_refused_name_is_reported_once_not_through_its_derived_names(pre_gen, answers, field):
    errors = pre_gen.validate(default_answers(**answers))
    assert errors
    assert all(error.startswith(f"{field} ") for error in errors), errors


@pytest.mark.parametrize("value", VALID_ENVIRONMENTS)
def test_valid_environments(pre_gen, value):
    assert pre_gen.validate_environments(value) == []


@pytest.mark.parametrize("value", ["customer_churn", "_private", "churn2", "ml_template_x"])
def test_valid_package_names(pre_gen, value):
    assert pre_gen.validate_package_name(value) == []


def test_rule_messages_explain_the_rule(pre_gen):
    assert pre_gen.validate_package_name("json") == [
        "package_name 'json' shadows the standard-library module 'json'; choose another name"
    ]
    assert (
        "lowercase letters, digits and single hyphens, starting with a letter"
        in (pre_gen.validate_project_slug("My Project")[0])
    )
    assert "'prod' must come last" in pre_gen.validate_environments("prod,dev")[0]
    assert (
        "reserved for the laptop configuration"
        in pre_gen.validate_environments("dev,local,prod")[0]
    )


# --- pre_gen_project: through cookiecutter -----------------------------------------


@pytest.mark.parametrize(("field", "value"), INVALID_ANSWERS)
def test_invalid_answer_stops_rendering(cookies, capfd, tmp_path, field, value):
    result = cookies.bake(extra_context={field: value}, template=str(TEMPLATE_DIR))

    assert result.exit_code != 0
    assert result.exception is not None
    err = capfd.readouterr().err
    assert f"ERROR: {field} {load_hook('pre_gen_project').shown(value)}" in err, err
    assert "Traceback" not in err.split("ERROR: Stopping generation")[0], err
    leftovers = [p for p in (tmp_path / "cookies").rglob("*") if p.is_file()]
    leftover_dirs = [p for p in (tmp_path / "cookies").glob("*/*")]
    assert not leftovers and not leftover_dirs, f"left behind: {leftovers or leftover_dirs}"


def test_cookiecutter_cli_reports_the_rule_and_leaves_nothing(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--output-dir",
            str(tmp_path),
            str(TEMPLATE_DIR),
            "package_name=json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert (
        "ERROR: package_name 'json' shadows the standard-library module 'json'; "
        "choose another name" in proc.stderr
    ), proc.stderr
    assert list(tmp_path.iterdir()) == []


def printed_command(stderr: str, after: str) -> list[str]:
    """The command printed on the line after the line starting with ``after``."""
    lines = stderr.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(after))
    command = next(line for line in lines[index + 1 :] if line.startswith("  "))
    return shlex.split(command)


ANSWERED = {
    "project_name": "Weather Model",
    "author_name": "Ana Müller-O'Brien",
    "cloud": "gcp",
    "environments": "dev,staging,prod",
}


def test_refusal_prints_a_command_that_keeps_the_answers(tmp_path):
    bad = {**ANSWERED, "author_email": 'a"b@example.com'}
    args = [f"{key}={value}" for key, value in bad.items()]
    proc = run_cookiecutter(tmp_path, "--no-input", str(TEMPLATE_DIR), *args)

    assert proc.returncode != 0
    assert "ERROR: author_email 'a\"b@example.com'" in proc.stderr, proc.stderr
    command = printed_command(proc.stderr, "Your answers are kept")
    assert command[:2] == ["cookiecutter", str(TEMPLATE_DIR)]
    # Only what was answered: derived names (project_slug, ...) follow a fixed answer.
    assert dict(arg.split("=", 1) for arg in command[2:]) == bad

    fixed = [
        "author_email=ana@example.com" if arg.startswith("author_email=") else arg
        for arg in command[2:]
    ]
    proc = run_cookiecutter(tmp_path, "--no-input", command[1], *fixed)
    assert proc.returncode == 0, proc.stderr
    state = json.loads((tmp_path / "weather-model" / ".cruft.json").read_text())
    answers = state["context"]["cookiecutter"]
    assert {key: answers[key] for key in ANSWERED} == ANSWERED
    assert answers["author_email"] == "ana@example.com"
    assert answers["github_owner"] == "ana-muller-o-brien"


def test_refusal_points_at_the_replay_file(tmp_path):
    proc = run_cookiecutter(
        tmp_path, "--no-input", str(TEMPLATE_DIR), "project_name=🚀", "cloud=aws"
    )

    assert proc.returncode != 0
    assert "ERROR: project_name '🚀' has no letter or digit" in proc.stderr, proc.stderr
    command = printed_command(proc.stderr, "Cookiecutter also saved them")
    replay = Path(command[command.index("--replay-file") + 1])
    context = json.loads(replay.read_text())
    assert context["cookiecutter"]["cloud"] == "aws"

    context["cookiecutter"] |= {
        "project_name": "Rocket",
        "project_slug": "rocket",
        "package_name": "rocket",
    }
    replay.write_text(json.dumps(context))
    proc = run_cookiecutter(tmp_path, *command[1:])
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "rocket" / "src" / "rocket" / "cli.py").is_file()


def test_rerun_command_for_cruft_and_options(pre_gen, monkeypatch, tmp_path):
    monkeypatch.setenv("PWD", str(tmp_path))
    answers = {
        **default_answers(project_name="Weather Model"),
        "_template": "https://example.com/ml-template.git",
        "_checkout": "v1.2.0",
        "_output_dir": str(tmp_path / "out"),
        "_repo_dir": str(TEMPLATE_DIR),
    }
    assert shlex.split(pre_gen.rerun_command(answers)) == [
        "cookiecutter",
        "--checkout",
        "v1.2.0",
        "--output-dir",
        str(tmp_path / "out"),
        "https://example.com/ml-template.git",
        "project_name=Weather Model",
    ]
    cruft = shlex.split(pre_gen.rerun_command({**answers, "_commit": "abc"}))
    assert cruft[:2] == ["cruft", "create"]
    assert json.loads(cruft[cruft.index("--extra-context") + 1]) == {
        "project_name": "Weather Model"
    }


@pytest.mark.parametrize(
    "answer", ["project_name={{", "description=a {% b", "author_name={# x", "project_name={{ x }}"]
)
def test_template_syntax_in_an_answer_is_refused_by_name(tmp_path, answer):
    proc = run_cookiecutter(tmp_path, "--no-input", str(TEMPLATE_DIR), answer)

    field, value = answer.split("=", 1)
    assert proc.returncode != 0
    assert "TemplateSyntaxError" not in proc.stderr, proc.stderr
    assert f"ERROR: {field} {value!r} contains template syntax" in proc.stderr, proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["cookiecutterrc.yaml", "replay"]


def test_answers_may_still_refer_to_other_answers(bake):
    project = bake(description="{{ cookiecutter.project_name }} forecasts")
    assert project.answers["description"] == "Customer Churn forecasts"


@pytest.mark.parametrize(("serving", "last"), [("fastapi", "make serve"), ("none", "make predict")])
def test_rendering_prints_where_the_project_is_and_what_to_run(tmp_path, serving, last):
    proc = run_cookiecutter(
        tmp_path, "--no-input", "-o", "projects", str(TEMPLATE_DIR), f"serving={serving}"
    )

    assert proc.returncode == 0, proc.stderr
    project = tmp_path / "projects" / "customer-churn"
    lines = proc.stdout.splitlines()
    assert f"Created Customer Churn in {project}" in lines
    commands = [line.split("#")[0].strip() for line in lines[lines.index("Next:") + 1 :]]
    assert commands == ["cd projects/customer-churn", "make install", "make train", last]
    # Each printed target exists in the project's Makefile (make -n only prints).
    targets = [command.removeprefix("make ") for command in commands[1:]]
    dry_run = subprocess.run(
        ["make", "-n", *targets], cwd=project, capture_output=True, text=True, check=False
    )
    assert dry_run.returncode == 0, dry_run.stderr


@pytest.mark.parametrize("tool", ["cookiecutter", "cruft"])
def test_the_readme_forms_render_a_tag_of_a_git_url(tmp_path, tool):
    # The template README's forms: `cookiecutter <url> --checkout <tag>` and cruft create.
    # Named like the URL the README shows (…/ml-template.git), which cookiecutter needs to
    # recognise a git repository.
    repo = template_git_copy(tmp_path / "ml-template.git", message="v1.2.0")
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "tag", "v1.2.0"], check=True)
    tagged = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (repo / "README.md").write_text("after the tag\n")
    subprocess.run(
        [*git, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "next"],
        check=True,
    )
    url = repo.as_uri()
    work = tmp_path / "work"
    work.mkdir()

    if tool == "cookiecutter":
        proc = run_cookiecutter(work, url, "--checkout", "v1.2.0", "--no-input")
    else:
        proc = subprocess.run(
            [sys.executable, "-m", "cruft", "create", url, "--checkout", "v1.2.0", "--no-input"],
            cwd=work,
            env={**os.environ, "PWD": str(work)},
            capture_output=True,
            text=True,
            check=False,
        )

    assert proc.returncode == 0, proc.stderr
    assert "Created Customer Churn" in proc.stdout
    state = json.loads((work / "customer-churn" / ".cruft.json").read_text())
    assert state["commit"] == tagged


# --- post_gen_project: the prune table ---------------------------------------------


def test_prune_table_names_real_options_and_values(post_gen):
    choices = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    for option, value in post_gen.PRUNE:
        assert isinstance(choices.get(option), list), f"PRUNE: {option!r} is not a choice option"
        assert value in choices[option], f"PRUNE: {value!r} is not a choice of {option!r}"


def test_prune_formats_paths_and_removes_files_and_folders(post_gen, tmp_path):
    answers = default_answers(serving="none", include_notebooks="no")
    package = answers["package_name"]
    for name in [
        f"src/{package}/serving/app.py",
        f"src/{package}/model.py",
        "notebooks/example.ipynb",
        "scripts/notebooks_to_html.py",
        "README.md",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")

    post_gen.prune(tmp_path, answers)

    remaining = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    assert remaining == {"README.md", "src", f"src/{package}", f"src/{package}/model.py"}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_chosen_tasks_sample_becomes_the_projects_sample(post_gen, tmp_path, task):
    sample = tmp_path / "data" / "sample"
    sample.mkdir(parents=True)
    for name, target in (("", "churned"), ("-multiclass", "renewal"), ("-regression", "revenue")):
        (sample / f"customers{name}.csv").write_text(f"customer_id,{target}\n")
    (sample / "README.md").write_text("x\n")

    post_gen.choose_sample(tmp_path, default_answers(task=task))

    assert sorted(path.name for path in sample.iterdir()) == ["README.md", "customers.csv"]
    target = {"binary": "churned", "multiclass": "renewal", "regression": "revenue"}[task]
    assert (sample / "customers.csv").read_text() == f"customer_id,{target}\n"


# --- post_gen_project: per-environment expansion -----------------------------------


def test_expand_environments_copies_files_and_folders(post_gen, tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs/__env__.yaml").write_text("env: __env__\n")
    (tmp_path / "configs/local.yaml").write_text("env: local\n")
    overlay = tmp_path / "deploy/overlays/__env__"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("namespace: churn-__env__\n")
    (overlay / "__env__-patch.yaml").write_text("name: __env__\n")
    (overlay / "logo.bin").write_bytes(b"\xff\xfe__env__")
    script = tmp_path / "run-__env__.sh"
    script.write_text("echo __env__\n")
    script.chmod(0o755)

    post_gen.expand_environments(tmp_path, ["dev", "prod"])

    files = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert files == {
        "configs/local.yaml",
        "configs/dev.yaml",
        "configs/prod.yaml",
        "deploy/overlays/dev/kustomization.yaml",
        "deploy/overlays/dev/dev-patch.yaml",
        "deploy/overlays/dev/logo.bin",
        "deploy/overlays/prod/kustomization.yaml",
        "deploy/overlays/prod/prod-patch.yaml",
        "deploy/overlays/prod/logo.bin",
        "run-dev.sh",
        "run-prod.sh",
    }
    assert (tmp_path / "configs/prod.yaml").read_text() == "env: prod\n"
    assert (tmp_path / "deploy/overlays/dev/kustomization.yaml").read_text() == (
        "namespace: churn-dev\n"
    )
    assert (tmp_path / "deploy/overlays/prod/logo.bin").read_bytes() == b"\xff\xfe__env__"
    assert (tmp_path / "run-prod.sh").stat().st_mode & 0o111


def test_environments_are_split_in_promotion_order(post_gen):
    assert post_gen.environments({"environments": " dev, staging ,prod"}) == [
        "dev",
        "staging",
        "prod",
    ]


# --- post_gen_project: cruft state and git ------------------------------------------


def test_cruft_state_records_answers_without_machine_paths(post_gen, tmp_path):
    answers = {
        **default_answers(),
        "_template": str(TEMPLATE_DIR),
        "_repo_dir": str(tmp_path / "not-a-template"),
        "_output_dir": str(tmp_path),
        "_checkout": None,
    }
    state = post_gen.cruft_state(answers)

    assert state["template"] == str(TEMPLATE_DIR)
    assert state["checkout"] is None
    assert state["directory"] is None
    assert state["commit"] is None  # _repo_dir is not a template checkout
    assert state["skip"] == [".git", "uv.lock", "data/sample"]
    context = state["context"]["cookiecutter"]
    assert "_output_dir" not in context
    assert "_repo_dir" not in context
    assert context["_template"] == str(TEMPLATE_DIR)
    assert context["package_name"] == answers["package_name"]


@pytest.mark.parametrize(
    ("template", "url"),
    [
        ("gh:acme/ml-template", "https://github.com/acme/ml-template.git"),
        ("gl:acme/ml-template", "https://gitlab.com/acme/ml-template.git"),
        ("https://example.com/ml-template.git", "https://example.com/ml-template.git"),
        (str(TEMPLATE_DIR), str(TEMPLATE_DIR)),
    ],
)
def test_cruft_state_records_a_template_cruft_can_clone(post_gen, template, url):
    state = post_gen.cruft_state({**default_answers(), "_template": template})
    assert state["template"] == url
    assert state["context"]["cookiecutter"]["_template"] == url


def test_cruft_state_takes_commit_from_template_repository(post_gen, tmp_path):
    repo = tmp_path / "template"
    repo.mkdir()
    (repo / "cookiecutter.json").write_text("{}")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()

    state = post_gen.cruft_state({**default_answers(), "_repo_dir": str(repo)})

    assert state["commit"] == head
    assert state["context"]["cookiecutter"]["_commit"] == head


def test_git_init_makes_a_repository_on_main(post_gen, tmp_path):
    post_gen.git_init(tmp_path)
    branch = subprocess.run(
        ["git", "symbolic-ref", "--short", "HEAD"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert branch == "main"
    post_gen.git_init(tmp_path)  # a second run leaves the repository alone


def test_relative_template_path_is_resolved_from_the_start_directory(post_gen, monkeypatch):
    # `cookiecutter .` records "." while the hook runs inside the new project.
    monkeypatch.setenv("PWD", str(TEMPLATE_DIR))
    assert post_gen.template_url(".") == str(TEMPLATE_DIR)
    monkeypatch.setenv("PWD", "/")
    assert post_gen.local_path(".") is None


# --- through cookiecutter ---------------------------------------------------------


def test_valid_environments_render_one_config_per_environment(bake):
    project = bake(environments="dev,staging,prod")
    files = project.files()
    assert {"configs/dev.yaml", "configs/staging.yaml", "configs/prod.yaml"} <= files
    assert not [name for name in files if "__env__" in name]
    assert "__env__" not in (project.path / "configs/staging.yaml").read_text()
