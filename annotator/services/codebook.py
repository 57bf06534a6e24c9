"""Codebook versions: load from YAML/JSON, export, and read the categories of a version.

Every change makes a new version; labels and predictions keep the version they were made under.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlmodel import Session, select

from annotator.data.models import Category, CodebookVersion
from annotator.errors import InvalidInput, InvalidRow, NotFound
from annotator.services import audit

CATEGORY_FIELDS = ("name", "definition", "examples", "medhelm_category", "medhelm_subcategory")


@dataclass
class CategoryDraft:
    name: str
    definition: str = ""
    examples: list[str] = field(default_factory=list)
    medhelm_category: str = ""
    medhelm_subcategory: str = ""
    active: bool = True

    def as_dict(self) -> dict:
        return {"name": self.name, "definition": self.definition, "examples": list(self.examples),
                "medhelm_category": self.medhelm_category, "medhelm_subcategory": self.medhelm_subcategory}


@dataclass
class CodebookDraft:
    name: str
    note: str
    categories: list[CategoryDraft]
    renames: dict[str, str] = field(default_factory=dict)


def _text_field(path: Path, i: int, item: dict, name: str, *, required: bool = False) -> str:
    """A category's text field: a string (a number is accepted for anything but the name), no NUL."""
    value = item.get(name)
    if value is None:
        if required:
            raise InvalidRow(path.name, i, name, "category without a name")
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or (name == "name" and not isinstance(value, str)):
        raise InvalidRow(path.name, i, name, f"must be text, not {_kind(value)}")
    text = str(value).strip()
    if "\x00" in text:
        raise InvalidRow(path.name, i, name, "contains a NUL character (0x00), which cannot be stored")
    if required and not text:
        raise InvalidRow(path.name, i, name, "category without a name")
    if name != "definition" and len(text) > 200:
        raise InvalidRow(path.name, i, name, "longer than 200 characters")
    return text


def _kind(value) -> str:
    return {dict: "a mapping", list: "a list", bool: "true/false"}.get(type(value), f"a {type(value).__name__}")


def parse_codebook(path: Path | str) -> CodebookDraft:
    """Read and validate a codebook file (YAML or JSON, the format `export-codebook` writes).

    Checked before parsing: the file size (``MAX_CODEBOOK_BYTES``); while parsing: YAML aliases
    (a safe loader refusing an alias bomb). Every field must have its type: names and definitions
    are text, examples a list of text, ``active`` true or false."""
    from annotator.importing.sources import MAX_CODEBOOK_BYTES, check_small_file, safe_yaml_load

    path = Path(path)
    check_small_file(path, MAX_CODEBOOK_BYTES, "a codebook")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else safe_yaml_load(text, name=path.name)
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name}: not UTF-8 text; re-save it as UTF-8") from None
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None) or getattr(exc, "lineno", None)
        where = f" at line {line + 1 if hasattr(exc, 'problem_mark') else line}" if line is not None else ""
        raise InvalidInput(f"{path.name}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}{where}") from None
    except RecursionError:
        raise InvalidInput(f"{path.name}: nested too deeply to be a codebook") from None
    if not isinstance(data, dict) or not isinstance(data.get("categories"), list) or not data["categories"]:
        raise InvalidInput(f"{path.name}: expected a mapping with a non-empty 'categories' list")
    if len(data["categories"]) > 200:
        raise InvalidInput(f"{path.name}: {len(data['categories'])} categories is over the limit of 200")
    cats: list[CategoryDraft] = []
    seen: set[str] = set()
    for i, item in enumerate(data["categories"], start=1):
        if not isinstance(item, dict):
            raise InvalidRow(path.name, i, None, "each category must be a mapping with at least 'name'")
        unknown = set(item) - set(CATEGORY_FIELDS) - {"active"}
        if unknown:
            raise InvalidRow(path.name, i, str(sorted(map(str, unknown))[0]),
                             f"unknown field; fields are {', '.join(CATEGORY_FIELDS)}")
        name = _text_field(path, i, item, "name", required=True)
        if name.lower() in seen:
            raise InvalidRow(path.name, i, "name", f"duplicate category '{name}'")
        seen.add(name.lower())
        examples = item.get("examples") or []
        if isinstance(examples, str):
            examples = [examples]
        if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
            raise InvalidRow(path.name, i, "examples", "examples must be a list of text (quote numbers)")
        if any("\x00" in e for e in examples):
            raise InvalidRow(path.name, i, "examples", "contains a NUL character (0x00), which cannot be stored")
        active = item.get("active", True)
        if not isinstance(active, bool):
            raise InvalidRow(path.name, i, "active", f"must be true or false, not {active!r}"[:120])
        cats.append(CategoryDraft(
            name=name, definition=_text_field(path, i, item, "definition"),
            examples=[e.strip() for e in examples if e.strip()],
            medhelm_category=_text_field(path, i, item, "medhelm_category"),
            medhelm_subcategory=_text_field(path, i, item, "medhelm_subcategory"),
            active=active,
        ))
    renames = data.get("renames") or {}
    if not isinstance(renames, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in renames.items()):
        raise InvalidInput(f"{path.name}: 'renames' must map old category names to new ones (text to text)")
    for key in ("name", "note"):
        if data.get(key) is not None and not isinstance(data[key], (str, int, float)):
            raise InvalidInput(f"{path.name}: '{key}' must be text, not {_kind(data[key])}")
        if "\x00" in str(data.get(key) or ""):
            raise InvalidInput(f"{path.name}: '{key}' contains a NUL character (0x00), which cannot be stored")
    return CodebookDraft(name=str(data.get("name") or path.stem), note=str(data.get("note") or ""),
                         categories=cats, renames={str(k): str(v) for k, v in renames.items()})


def chain_renames(steps) -> dict[str, str]:
    """Old category name -> its name after every step, following each step's renames in order
    (a rename then a merge maps the oldest name to the newest). Identity pairs are dropped."""
    chain: dict[str, str] = {}
    for renames in steps:
        for old, new in (renames or {}).items():
            for k, v in list(chain.items()):
                if v == old:
                    chain[k] = new
            chain[old] = new
    return {k: v for k, v in chain.items() if k != v}


def codebook_renames(session: Session) -> dict[str, str]:
    """Old category name -> its name in the newest version, following every version's renames (the one
    place today's category names are derived; every report maps stored labels through it)."""
    steps = session.exec(select(CodebookVersion.renames).order_by(CodebookVersion.version)).all()
    return chain_renames(steps)


def get_version(session: Session, version: int | None = None) -> CodebookVersion | None:
    """The given codebook version, or the newest one."""
    stmt = select(CodebookVersion)
    stmt = stmt.where(CodebookVersion.version == version) if version is not None else stmt.order_by(CodebookVersion.version.desc())
    return session.exec(stmt.limit(1)).first()


def require_version(session: Session, version: int | None = None) -> CodebookVersion:
    found = get_version(session, version)
    if found is None:
        if version is None:
            raise NotFound("no codebook loaded yet: load one on the Codebook page (the default is "
                           "sample_data/codebook.yaml)",
                           cli="no codebook loaded yet: run 'annotator import-codebook sample_data/codebook.yaml'")
        raise NotFound(f"codebook version {version} does not exist")
    return found


def list_versions(session: Session) -> list[CodebookVersion]:
    return list(session.exec(select(CodebookVersion).order_by(CodebookVersion.version)))


def list_categories(session: Session, version_id: int, *, active_only: bool = True) -> list[Category]:
    stmt = select(Category).where(Category.codebook_version_id == version_id)
    if active_only:
        stmt = stmt.where(Category.active == True)  # noqa: E712
    return list(session.exec(stmt.order_by(Category.position)))


def category_names(session: Session, version_id: int) -> list[str]:
    return [c.name for c in list_categories(session, version_id)]


def draft_of(session: Session, version: CodebookVersion) -> CodebookDraft:
    cats = [CategoryDraft(name=c.name, definition=c.definition, examples=list(c.examples or []),
                          medhelm_category=c.medhelm_category, medhelm_subcategory=c.medhelm_subcategory,
                          active=c.active)
            for c in list_categories(session, version.id, active_only=False)]
    return CodebookDraft(name=version.name, note=version.note, categories=cats, renames=dict(version.renames or {}))


def _same(a: CodebookDraft, b: CodebookDraft) -> bool:
    key = lambda d: [(c.as_dict(), c.active) for c in d.categories]  # noqa: E731
    return key(a) == key(b) and a.renames == b.renames


def save_version(session: Session, draft: CodebookDraft, *, actor: str, note: str | None = None) -> tuple[CodebookVersion, bool]:
    """Store `draft` as a new version unless it equals the newest one. Returns (version, created). Commits."""
    current = get_version(session)
    if current is not None and _same(draft_of(session, current), draft):
        return current, False
    number = (current.version + 1) if current else 1
    version = CodebookVersion(version=number, name=draft.name, note=note if note is not None else draft.note,
                              renames=draft.renames or None, created_by=actor)
    session.add(version)
    session.flush()
    for pos, c in enumerate(draft.categories):
        session.add(Category(codebook_version_id=version.id, position=pos, active=c.active, **c.as_dict()))
    audit.record(session, actor=actor, action="codebook_version", entity="codebook", entity_id=number,
                 detail={"categories": [c.name for c in draft.categories], "note": version.note})
    session.commit()
    return version, True


def import_codebook(session: Session, path: Path | str, *, actor: str = "cli") -> tuple[CodebookVersion, bool]:
    return save_version(session, parse_codebook(path), actor=actor)


def export_codebook(session: Session, *, fmt: str = "yaml", version: int | None = None) -> str:
    """The codebook as YAML or JSON text that `import_codebook` reads back."""
    v = require_version(session, version)
    draft = draft_of(session, v)
    data: dict = {"name": draft.name, "version": v.version, "note": draft.note, "categories": []}
    for c in draft.categories:
        d = c.as_dict()
        if not c.active:
            d["active"] = False
        data["categories"].append(d)
    if draft.renames:
        data["renames"] = draft.renames
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    raise InvalidInput(f"unknown codebook format '{fmt}'; use yaml or json")
