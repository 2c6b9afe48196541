"""Build frozen config dataclasses from TOML (or YAML, or JSON) dicts, failing loudly on unknown or mistyped fields (STYLE.md)."""

from __future__ import annotations

import ast
import dataclasses
import difflib
import json
import math
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from lmforge.pipeline.errors import ConfigError

T = TypeVar("T")

INT64_MAX = (1 << 63) - 1
"""The largest int a config field takes: TOML's integers are 64-bit (toml.io, "Integer"), and numpy, pyarrow,
sentencepiece and torch take no wider ones; a YAML (or tomllib) reader keeps any size, which failed far into a run."""


def whole(value: Any, low: int, high: float = math.inf) -> bool:
    """`value` is an int in [low, high]. A bool is refused: `from_dict` refuses one from a config file, and a config
    built in Python must not pass `True` as a count of 1 either."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def real(value: Any) -> bool:
    """`value` is a finite number, not a bool: a bare `x > 0` lets +inf through (and `not x <= 0` lets NaN through)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_whole(value: Any, where: str, low: int, high: float = math.inf) -> None:
    """`__post_init__` helper: a ConfigError naming the field and its range unless `value` is an int in [low, high]."""
    span = f"≥ {low}" if high == math.inf else f"in [{low}, {high}]"
    check(whole(value, low, high), where, f"must be an integer {span}, got {value!r}")


def check_real(value: Any, where: str, low: float = -math.inf, high: float = math.inf) -> None:
    """`__post_init__` helper: a ConfigError naming the field and its range unless `value` is a finite number in
    [low, high] (NaN fails every comparison, so a bare `low <= x <= high` written the other way round lets it in)."""
    span = "" if low == -math.inf and high == math.inf else f" in [{low:g}, {high:g}]"
    check(real(value) and low <= value <= high, where, f"must be a finite number{span}, got {value!r}")


def _key(key: Any, where: str) -> str:
    """A table key as a string. YAML keys can be anything: `no:` is the bool False under YAML 1.1 (PyYAML's rules),
    which `str()` silently turned into a stop-word list for the language "False"; an int key (`2: 0.2` for an n-gram
    size) is what a YAML user writes where TOML has "2", so it is taken as its digits."""
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    hint = " (YAML 1.1 reads yes/no/on/off as booleans: quote the key)" if isinstance(key, bool) else ""
    raise ConfigError(f"{where}: key {key!r} is not a string{hint}")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if value is None:  # a YAML section whose lines are all commented out (`shards:`): no settings, as `[shards]`
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        vt = args[1] if len(args) == 2 else Any
        out = {}
        for k, v in value.items():
            key = _key(k, where)
            if key in out:  # YAML's `2:` and `"2":` in one table
                raise ConfigError(f"{where}: key {key!r} is given twice")
            out[key] = _coerce(v, vt, f"{where}.{key}")
        return out
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > INT64_MAX:  # float(10**400) raises OverflowError
            raise ConfigError(f"{where}: {value} does not fit a 64-bit integer (TOML's range)")
        value = float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        raise ConfigError(f"{where}: expected int, got {value!r} (write {int(value)}, without the decimal point)")
    if tp in (int, float, str, bool) and (not isinstance(value, tp) or (tp is int and isinstance(value, bool))):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def _out_of_range(value: Any, where: str) -> str | None:
    """The first number in a field's value no config takes, as an error message: NaN, ±inf, an int past 64 bits.

    Checked for every field once its section's own `__post_init__` has passed it (a section that checks a field says
    its range itself, which is the better message): those compared numbers with `<`/`>=`, which NaN fails both ways
    (`not x < 0` lets it in) and +inf passes (`x >= 0`). No config number means "unset" by NaN or "no limit" by inf
    (sections have `enabled` flags and None for that).
    """
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where}: expected a finite number, got {value!r}"
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        return f"{where}: {value} does not fit a 64-bit integer (TOML's range)"
    if isinstance(value, dict):
        return next(filter(None, (_out_of_range(v, f"{where}.{k}") for k, v in value.items())), None)
    if isinstance(value, list | tuple):
        return next(filter(None, (_out_of_range(v, f"{where}[{i}]") for i, v in enumerate(value))), None)
    return None  # a nested section was checked when it was built


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Instantiate dataclass `cls` from `data`; an unknown key or a wrong type is a ConfigError naming the field."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    # sorted by str: YAML keys need not be strings (`1:`, `no:`), and sorting an int with a str raised TypeError
    unknown = sorted(set(data) - names, key=str)
    if unknown:
        close = [m for k in unknown for m in difflib.get_close_matches(str(k), names, n=1)]
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise ConfigError(f"{where}: unknown field(s) {unknown}{hint}; known: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        obj = cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(_qualified(str(exc), where)) from exc
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    problem = next(filter(None, (_out_of_range(v, f"{where}.{k}") for k, v in kwargs.items())), None)
    if problem:
        raise ConfigError(problem)
    return obj


def _qualified(message: str, where: str) -> str:
    """A `__post_init__` message ("clean.max_bytes: must be positive") with the file and full path of its field in
    front ("runs.toml.curate.clean.max_bytes: ..."): the dataclasses name their fields from their own section down,
    and knew neither the file nor where the section sits in it."""
    key, sep, rest = message.partition(": ")
    if sep and " " not in key:
        if key == where or key.startswith(f"{where}."):
            return message  # qualified already
        parts = key.split(".")
        for n in range(len(parts), 0, -1):  # the longest head of the key that `where` ends with
            head = ".".join(parts[:n])
            if where == head or where.endswith(f".{head}"):
                return ".".join([where, *parts[n:]]) + f": {rest}"
    return f"{where}: {message}"


def _dataclass_of(tp: Any) -> Any:
    """The config dataclass a field holds, through `X | None`; None for anything else."""
    if dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)]
        return inner[0] if len(inner) == 1 else None
    return None


def _join(first: Any, second: Any, where: str) -> Any:
    """Two values given for one key (`train.seed = 1` beside `[train]`): tables are joined, anything else given twice
    is an error, as TOML makes it (a dotted key and its table in one file are one key to the reader)."""
    if isinstance(first, dict) and isinstance(second, dict):
        out = dict(first)
        for k, v in second.items():
            out[k] = _join(out[k], v, f"{where}.{k}") if k in out else v
        return out
    raise ConfigError(f"{where}: given twice (once as a dotted key); give it once")


def expand_dotted(
    data: dict[str, Any], cls: type, where: str, partial: dict[tuple[type, str], type] | None = None
) -> dict[str, Any]:
    """`data` with dotted keys at the levels of `cls`'s dataclasses nested: `{"train.optim.lr": 1e-3}` →
    `{"train": {"optim": {"lr": 1e-3}}}`, as TOML reads `train.optim.lr = 1e-3` unquoted.

    A YAML `train.max_steps: 5` (YAML has no dotted keys: it is one string key), a quoted TOML key and an override
    written `{"train.max_steps": 5}` meant that and nothing else: no field has a dot in its name. Only keys whose
    head is a field of the dataclass at that level are split; tables of names (`[curate.sources."example.com"]`,
    stop words per language) keep their keys as written, and an unknown head is left for `from_dict` to refuse.
    `partial` names dict fields that hold a partial table of another dataclass (`SourceConfig.filters`).
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    out: dict[Any, Any] = {}
    for key, value in data.items():
        if isinstance(key, str) and "." in key and key not in names and key.split(".", 1)[0] in names:
            key, rest = key.split(".", 1)
            value = {rest: value}
        out[key] = _join(out[key], value, f"{where}.{key}") if key in out else value
    for key, value in out.items():
        if key not in names or not isinstance(value, dict):
            continue
        tp, sub = hints[key], f"{where}.{key}"
        inner = (partial or {}).get((cls, key)) or _dataclass_of(tp)
        if inner is not None:
            out[key] = expand_dotted(value, inner, sub, partial)
        elif typing.get_origin(tp) is dict and len(typing.get_args(tp)) == 2:
            item = _dataclass_of(typing.get_args(tp)[1])
            if item is not None:
                out[key] = {k: _named_item(k, v, item, f"{sub}.{k}", partial) for k, v in value.items()}
    return out


def _named_item(name: Any, value: Any, cls: type, where: str, partial: dict[tuple[type, str], type] | None) -> Any:
    """One entry of a table of names (`[curate.sources.NAME]`): a name may hold dots ("example.com"), so a dotted key
    there is not split; one that reaches a value, not a table, is said to be the likely cause."""
    if isinstance(value, dict):
        return expand_dotted(value, cls, where, partial)
    if isinstance(name, str) and "." in name:
        raise ConfigError(
            f"{where}: expected a table, got {type(value).__name__}; the names in this table may hold dots, so a "
            f"dotted key is not split here: write {name.split('.', 1)[0]!r} as a table of its own"
        )
    return value


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge two TOML dicts (override wins)."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def to_dict(obj: Any) -> Any:
    """Config dataclass → plain dict (for manifests, digests and MLflow params)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    return obj


YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIXES = (".json",)
TOML_SUFFIXES = (".toml",)
CONFIG_SUFFIXES = TOML_SUFFIXES + YAML_SUFFIXES + JSON_SUFFIXES


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's numbers, and refusing a key given twice in one mapping.

    Floats: `lr: 3e-4` is a number (PyYAML's YAML 1.1 rules read a float without a dot as the string "3e-4", which a
    float field would then refuse). Integers: YAML 1.1 reads `seed: 010` as 8 (octal) and `1:20` as 80 (base 60);
    YAML 1.2 reads 10 and the string "1:20", and TOML refuses both. A leading zero is left a string here, so an int
    field says so rather than take either number; `0o10`, `0x10`, `0b10` and `1_000` read as in TOML. A duplicate
    key is an error in TOML; PyYAML kept the last one silently, so a second `shards:` section dropped the first.
    yes/no/on/off stay booleans (YAML 1.1): a bool field reads them as meant, and a string field refuses them.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._checked: set[int] = set()

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # Called on every mapping before its keys are built and before its `<<` merges are spliced in (which rewrites
        # node.value), hence the check here, once per node: a key a merge brings in may be overridden, as YAML allows.
        if id(node) not in self._checked:
            self._checked.add(id(node))
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the constructor itself refuses it next
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
        super().flatten_mapping(node)


def _yaml12_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    return int(loader.construct_scalar(node), 0)  # the resolver let through only what Python's int(x, 0) reads


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:float", "tag:yaml.org,2002:int")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?[0-9]+[eE][-+]?[0-9]+$"
        r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(
        r"^[-+]?(?:0|[1-9](?:_?[0-9])*)$|^0o[0-7](?:_?[0-7])*$|^0x[0-9a-fA-F](?:_?[0-9a-fA-F])*$|^0b[01](?:_?[01])*$"
    ),
    list("-+0123456789"),
)
_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _yaml12_int)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice (`json` keeps the last silently; TOML and our YAML refuse it)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} is given twice")
        out[key] = value
    return out


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (a config number is finite)")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The tables of a config file, by its extension: .toml, .yaml/.yml (litgpt's and NeMo's habit) or .json.

    All give the same dicts, checked the same way by `from_dict`. A YAML or JSON file must hold a mapping at the
    top; an empty YAML file is no settings, as an empty TOML file is. Any other extension is refused: a `.json` file
    was read as TOML ("Invalid statement" at line 1), and a `.ini` or `.cfg` one would be too.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; --config takes a TOML, YAML or JSON file")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    suffix = path.suffix.lower()
    if suffix not in CONFIG_SUFFIXES:
        raise ConfigError(
            f"{path}: unknown config file type {suffix or '(no extension)'!r}; name it .toml, .yaml, .yml or .json"
        )
    try:
        # utf-8-sig: Windows editors (Notepad) start a UTF-8 file with a byte-order mark, which tomllib refused as
        # "Invalid statement" at line 1 (YAML allows one; TOML files should not have it, but it is no content)
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc})") from exc
    except OSError as exc:  # unreadable (permissions), or gone since is_file()
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if suffix in TOML_SUFFIXES:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    if suffix in JSON_SUFFIXES:
        try:
            data = json.loads(text, object_pairs_hook=_json_object, parse_constant=_json_constant)
        except ValueError as exc:  # json.JSONDecodeError is one
            raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a JSON config holds an object of sections, got a {type(data).__name__}")
        return data
    try:
        data = yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a YAML config holds a mapping of sections, got a {type(data).__name__}")
    return data


def check(condition: bool, where: str, message: str) -> None:
    """`__post_init__` helper: raise a ConfigError naming the field when `condition` is false."""
    if not condition:
        raise ConfigError(f"{where}: {message}")


def _held(data: Any, path: str) -> Any:
    """What `data` (a config dict) sets at dotted `path` (`[i]` indices allowed): the value there, the value of the
    key that encloses `path` (a list, a scalar in the way), or `_UNSET`. Keys are matched longest first, since the
    names in a table of names may hold dots (`curate.sources."example.com"`)."""
    if not path:
        return data
    if not isinstance(data, dict):
        return data  # set whole here: `path` is inside it
    for key in sorted(data, key=lambda k: -len(str(k))):
        name = str(key)
        if path == name:
            return data[key]
        if path.startswith(name) and path[len(name)] in ".[":
            return _held(data[key], path[len(name) :].removeprefix("."))
    return _UNSET


_UNSET = object()


@dataclasses.dataclass(frozen=True, slots=True)
class Origins:
    """Where the values of one `load_config` came from: a config file's tables, then overrides (which win)."""

    path: str
    """The config file, as named in messages."""
    file: dict[str, Any]
    overrides: dict[str, Any]

    def of(self, field: str) -> tuple[str, ...]:
        """The sources that set `field` (or part of it, for a table): "overrides", "file", both, or none (default)."""
        over = _held(self.overrides, field)
        if over is not _UNSET and not isinstance(over, dict):
            return ("overrides",)  # replaces whatever the file held there
        found = () if over is _UNSET else ("overrides",)
        return found + (() if _held(self.file, field) is _UNSET else ("file",))

    def label(self, field: str, origins: tuple[str, ...]) -> str:
        """`field` named by where its value came from: `run.toml.dedup.margin`, `override dedup.threshold`, or
        `dedup.margin (default)` when neither set it."""
        names = {"file": f"{self.path}.{field}" if field else self.path, "overrides": f"override {field}".rstrip()}
        return " and ".join(names[o] for o in origins) if origins else f"{field} (default)"


def attributed(message: str, root: str, origins: Origins) -> str:
    """A ConfigError message from `from_dict(..., where=root)` with its field named by the origin of its value.

    `from_dict` named every field after the config file, so a bad value given on the command line
    (`lmforge dedup --config run.toml --threshold 0.05`) was blamed on the file ("run.toml.dedup.margin: ..."). A
    check that compares fields (margin against threshold) names each other field it mentions by its origin too, when
    that differs ("override dedup.threshold vs dedup.margin (default): ..."), a value someone set first.
    """
    key, sep, rest = message.partition(": ")
    if not sep or " " in key or not (key == root or key.startswith((f"{root}.", f"{root}["))):
        return f"{origins.path}: {message}"
    field = key[len(root) :].removeprefix(".")
    unknown = re.match(r"unknown field\(s\) (\[.*?\])", rest)
    if unknown:  # the section is named; where its misspelt keys came from says which source to fix
        try:
            names = ast.literal_eval(unknown.group(1))
        except (ValueError, SyntaxError):
            names = []
        found = tuple(dict.fromkeys(o for n in names for o in origins.of(f"{field}.{n}".lstrip("."))))
        return f"{origins.label(field, found or origins.of(field))}: {rest}"
    own = origins.of(field)
    parent, _, leaf = field.rpartition(".")
    siblings = set()
    for data in (origins.file, origins.overrides):
        held = _held(data, parent)
        if isinstance(held, dict):
            siblings.update(str(k) for k in held)
    partners = []
    for name in sorted(siblings - {leaf}):
        sibling = f"{parent}.{name}" if parent else name
        theirs = origins.of(sibling)
        mentioned = re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)|\b{re.escape(sibling)}\b", rest)
        if theirs and theirs != own and mentioned:
            partners.append((sibling, theirs))
    if "overrides" not in own and not any("overrides" in theirs for _, theirs in partners):
        return f"{origins.label(field, ('file',))}: {rest}"  # the file's config, its defaults included
    # a value set by the user is what to fix: it comes first, before a default it was compared with
    named = [origins.label(sibling, theirs) for sibling, theirs in partners]
    names = [origins.label(field, own), *named] if own else [*named, origins.label(field, own)]
    return f"{' vs '.join(names)}: {rest}"
