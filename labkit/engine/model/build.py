"""The classic builder (``docker build`` with ``DOCKER_BUILDKIT=0``): one image per step.

Each step runs in (or is recorded by) a container made from the previous step's image
and is committed as a new image, as dockerd 20.10's builder does; a step whose parent and
instruction match an image made before is taken from it (``---> Using cache``). What the
docker CLI prints comes from :meth:`Build.run`'s messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import io
import posixpath
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labkit.engine.model import image_making as im
from labkit.engine.model import refs
from labkit.engine.model.dockerfile import Instruction, apply_config, command, expand, parse, words
from labkit.engine.model.errors import BadRequest, NotFound
from labkit.engine.replies import ApiError

if TYPE_CHECKING:
    from labkit.engine.model.engine import Engine
    from labkit.engine.model.images import Image

MAX_CONTEXT_FILES = 100_000


class StepFailed(Exception):
    """A step that ends the build; ``code`` is the failing command's exit code, if any."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Options:
    tags: list[str] = field(default_factory=list)
    dockerfile: str = "Dockerfile"
    buildargs: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    nocache: bool = False
    rm: bool = True
    forcerm: bool = False
    quiet: bool = False
    target: str = ""


class Context:
    """The build context: the tar the client sent, less what .dockerignore leaves out."""

    def __init__(self, data: bytes) -> None:
        self.files: dict[str, tarfile.TarInfo] = {}
        self.data: dict[str, bytes] = {}
        try:
            tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115 (closed below)
            members = tar.getmembers()
        except (tarfile.TarError, EOFError) as exc:
            raise BadRequest(
                f"the build context is not a tar archive ({exc}): send the context folder as a tar"
            ) from None
        with tar:
            if len(members) > MAX_CONTEXT_FILES:
                raise BadRequest(f"the build context has more than {MAX_CONTEXT_FILES} entries")
            for info in members:
                path = posixpath.normpath("/" + info.name).lstrip("/")
                if not path or path == ".":
                    continue
                self.files[path] = info
                if info.isfile():
                    handle = tar.extractfile(info)
                    self.data[path] = handle.read() if handle is not None else b""

    def text(self, name: str) -> str | None:
        path = posixpath.normpath("/" + name).lstrip("/")
        data = self.data.get(path)
        return data.decode("utf-8", "replace") if data is not None else None

    def forget(self, path: str) -> None:
        self.files.pop(path, None)
        self.data.pop(path, None)

    @staticmethod
    def ignored(patterns: list[str], path: str) -> bool:
        """Whether .dockerignore's patterns leave ``path`` out (``!`` brings one back)."""
        dropped = False
        for raw in patterns:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = posixpath.normpath(line.lstrip("!").strip()).lstrip("/")
            if _ignore_match(pattern, path):
                dropped = not negate
        return dropped

    def select(self, source: str) -> list[str]:
        """Context paths a COPY source names (wildcards allowed); dockerd's error if none."""
        src = posixpath.normpath("/" + source).lstrip("/")
        if src in ("", "."):
            return [""]
        if any(ch in src for ch in "*?["):
            found = [p for p in self.files if fnmatch.fnmatchcase(p, src)]
            if found:
                return sorted(found)
            raise StepFailed("COPY failed: no source files were specified")
        if src in self.files or any(p.startswith(src + "/") for p in self.files):
            return [src]
        raise StepFailed(
            f"COPY failed: file not found in build context or excluded by .dockerignore: "
            f"stat {src}: file does not exist"
        )

    def under(self, path: str) -> list[str]:
        if path == "":
            return sorted(self.files)
        prefix = path + "/"
        return sorted(p for p in self.files if p == path or p.startswith(prefix))


def _ignore_match(pattern: str, path: str) -> bool:
    regex = fnmatch.translate(pattern).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
    import re

    pattern_re = re.compile(regex)
    parts = path.split("/")
    return any(pattern_re.match("/".join(parts[:n])) for n in range(1, len(parts) + 1))


def stream(text: str) -> dict[str, Any]:
    return {"stream": text}


class Build:
    """One ``POST /build``: :meth:`run` yields the messages of the JSON stream."""

    def __init__(self, engine: Engine, context: Context, options: Options) -> None:
        self.engine = engine
        self.context = context
        self.options = options
        self.stages: dict[str, Image] = {}
        self.used_args: set[str] = set()

    def prepare(self) -> list[Instruction]:
        """The Dockerfile's instructions, or the 400 dockerd answers before the stream."""
        name = self.options.dockerfile or "Dockerfile"
        text = self.context.text(name)
        if text is None:  # dockerd's status for it is a 500
            raise ApiError(500, f"Cannot locate specified Dockerfile: {name}")
        ignore = self.context.text(".dockerignore")
        if ignore is not None:  # the client left out what it names; dockerd checks only these
            for path in (".dockerignore", name):
                if self.context.ignored(ignore.splitlines(), path):
                    self.context.forget(path)
        instructions = parse(text)
        for key, value in sorted(self.options.labels.items()):  # one step each, as dockerd
            shown = f"{_go_quote(key)}={_go_quote(value)}"
            instructions.append(Instruction(0, "LABEL", shown, f"LABEL {key}={value}"))
        return instructions

    async def run(self, instructions: list[Instruction]) -> AsyncIterator[dict[str, Any]]:
        total = len(instructions)
        quiet = self.options.quiet
        meta_args: dict[str, str] = {}
        image: Image | None = None
        cfg: dict[str, Any] = {}
        args: dict[str, str] = {}
        stage = 0
        try:
            for n, inst in enumerate(instructions, start=1):
                if inst.name == "FROM" and image is not None:
                    yield {"aux": {"ID": image.id}}  # the end of a stage
                if not quiet:
                    yield stream(f"Step {n}/{total} : {inst.original}")
                    yield stream("\n")
                if inst.name == "FROM":
                    if (
                        image is not None
                        and self.options.target
                        and stage_name_done(self.stages, self.options.target)
                    ):
                        break
                    image, name = self._from(inst, meta_args)
                    for message in self._pulled:
                        if not quiet:
                            yield message
                    cfg = im.document_of(image)["config"] or {}
                    cfg = dict(cfg)
                    args = {}
                    self.stages[str(stage)] = image
                    if name:
                        self.stages[name.lower()] = image
                    self._stage_keys = [str(stage), name.lower()] if name else [str(stage)]
                    stage += 1
                    if not quiet:
                        yield stream(f" ---> {image.short}\n")
                    continue
                if image is None:
                    if inst.name == "ARG":
                        for key, value in self._arg_values(inst, {}):
                            meta_args[key] = value
                        continue
                    raise StepFailed("no build stage in current context")
                async for message in self._step(inst, image, cfg, args):
                    if not quiet or "errorDetail" in message:
                        yield message
                image = self._result
                for key in self._stage_keys:
                    self.stages[key] = image
                if not quiet:
                    yield stream(f" ---> {image.short}\n")
        except StepFailed as exc:
            detail: dict[str, Any] = {"message": str(exc)}
            if exc.code is not None:
                detail = {"code": exc.code, "message": str(exc)}
            yield {"errorDetail": detail, "error": str(exc)}
            return
        except ApiError as exc:
            yield {"errorDetail": {"message": str(exc)}, "error": str(exc)}
            return
        assert image is not None
        if self.options.target and self.options.target.lower() in self.stages:
            image = self.stages[self.options.target.lower()]
        elif self.options.target:
            message = f"failed to reach build target {self.options.target} in Dockerfile"
            yield {"errorDetail": {"message": message}, "error": message}
            return
        yield {"aux": {"ID": image.id}}
        unused = sorted(k for k in self.options.buildargs if k not in self.used_args)
        if unused and not quiet:
            yield stream(
                f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n"
            )
        if quiet:
            yield stream(f"{image.id}\n")
        else:
            yield stream(f"Successfully built {image.short}\n")
        for name in self.options.tags:
            shown = im.tag(self.engine, image, name)
            if not quiet:
                yield stream(f"Successfully tagged {shown}\n")

    # ----- FROM ------------------------------------------------------------------------
    def _from(self, inst: Instruction, meta_args: dict[str, str]) -> tuple[Image, str]:
        parts = words(inst.rest)
        parts = [p for p in parts if not p.startswith("--")]
        if not parts:
            raise StepFailed("FROM requires either one or three arguments")
        name = ""
        if len(parts) == 3 and parts[1].lower() == "as":
            name = parts[2]
        elif len(parts) != 1:
            raise StepFailed("FROM requires either one or three arguments")
        source = expand(parts[0], meta_args)
        self._pulled: list[dict[str, Any]] = []
        if source.lower() in self.stages:
            return self.stages[source.lower()], name
        if source == "scratch":
            return self._scratch(), name
        try:
            return self.engine.images.resolve(source), name
        except NotFound:
            pass
        spec, ref = self.engine.pull_target(source, None)
        pulled = self.engine.record_pull(spec, ref)
        self._pulled = [
            {"status": f"Pulling from {ref.remote}", "id": ref.tag},
            {"status": f"Digest: {spec.digest}"},
            {"status": f"Status: Downloaded newer image for {ref.tagged()}"},
        ]
        return pulled, name

    def _scratch(self) -> Image:
        doc = {
            "architecture": "amd64",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
            },
            "created": "0001-01-01T00:00:00Z",
            "history": [],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
        }
        from labkit.engine.model.images import Image
        from labkit.engine.model.local_images import encode_document, sha256

        raw = encode_document(doc)
        return Image(id=sha256(raw.encode()), repo="", own={"raw": raw, "size": 0})

    # ----- one step ----------------------------------------------------------------------
    def _arg_values(self, inst: Instruction, env: dict[str, str]) -> list[tuple[str, str]]:
        out = []
        for word in words(inst.rest):
            key, eq, default = word.partition("=")
            if key in self.options.buildargs and self.options.buildargs[key] is not None:
                value = str(self.options.buildargs[key])
                self.used_args.add(key)
            elif key in self.options.buildargs:
                self.used_args.add(key)
                value = expand(default, env) if eq else ""
            else:
                value = expand(default, env) if eq else ""
            out.append((key, value))
        return out

    def _use_cache(self, parent: Image, key: str) -> bool:
        """dockerd's cache: a child of ``parent`` made by this same step (``key``) becomes the
        step's result; False when there is none, or ``nocache``."""
        if self.options.nocache:
            return False
        for image in self.engine.images.images.values():
            if image.parent == parent.id and image.own and image.own.get("cache") == key:
                self._result = image
                return True
        return False

    async def _step(
        self, inst: Instruction, image: Image, cfg: dict[str, Any], args: dict[str, str]
    ) -> AsyncIterator[dict[str, Any]]:
        env = {e.partition("=")[0]: e.partition("=")[2] for e in cfg.get("Env") or []}
        scope = {**args, **env}
        name = inst.name
        if name == "ARG":
            for key, value in self._arg_values(inst, scope):
                args[key] = value
            shown = "ARG " + " ".join(words(inst.rest))
            async for m in self._metadata(image, cfg, shown, inst):
                yield m
            return
        if name == "RUN":
            async for m in self._run(inst, image, cfg, args):
                yield m
            return
        if name in ("COPY", "ADD"):
            async for m in self._copy(inst, image, cfg, scope):
                yield m
            return
        new_cfg = dict(cfg)
        shown = apply_config(new_cfg, inst, dict(scope))
        cfg.clear()
        cfg.update(new_cfg)
        async for m in self._metadata(image, cfg, shown, inst):
            yield m

    async def _metadata(
        self, image: Image, cfg: dict[str, Any], shown: str, inst: Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        created_by = f"/bin/sh -c #(nop) {'' if inst.name == 'WORKDIR' else ' '}{shown}"
        key = f"{created_by}\n{_cfg_key(cfg)}"
        if self._use_cache(image, key):
            yield stream(" ---> Using cache\n")
            return
        body = self._body(image, cfg, ["/bin/sh", "-c", "#(nop) ", shown])
        c = self.engine.create_container(None, body)
        yield stream(f" ---> Running in {c.short}\n")
        empty = True
        if inst.name == "WORKDIR":
            fs = self.engine.container_fs(c)
            if not fs.exists(cfg["WorkingDir"]):
                fs.mkdir(cfg["WorkingDir"], parents=True)
                self.engine.save_fs(c, fs)
                empty = False
        self._result = im.commit(
            self.engine,
            c,
            config=_image_cfg(cfg),
            replace=True,
            created_by=created_by,
            cache=key,
            empty=empty,
        )
        if self.options.rm:
            self.engine._destroy_now(c)
            yield stream(f"Removing intermediate container {c.short}\n")

    def _body(self, image: Image, cfg: dict[str, Any], cmd: list[str]) -> dict[str, Any]:
        return {
            "Image": image.id,
            "Cmd": cmd,
            "Entrypoint": [""],
            "Env": list(cfg.get("Env") or []),
            "WorkingDir": cfg.get("WorkingDir") or "",
            "User": cfg.get("User") or "",
            "Labels": dict(cfg.get("Labels") or {}),
        }

    async def _run(
        self, inst: Instruction, image: Image, cfg: dict[str, Any], args: dict[str, str]
    ) -> AsyncIterator[dict[str, Any]]:
        argv = command(inst)
        env_keys = {e.partition("=")[0] for e in cfg.get("Env") or []}
        used = sorted((k, v) for k, v in args.items() if k not in env_keys)
        prefix = f"|{len(used)} " + " ".join(f"{k}={v}" for k, v in used) + " " if used else ""
        created_by = prefix + " ".join(argv)
        key = f"{created_by}\n{_cfg_key(cfg)}"
        if self._use_cache(image, key):
            yield stream(" ---> Using cache\n")
            return
        body = self._body(image, cfg, argv)
        body["Env"] = [*body["Env"], *(f"{k}={v}" for k, v in used)]
        c = self.engine.create_container(None, body)
        yield stream(f" ---> Running in {c.short}\n")
        queue = self.engine.listen(c)
        try:
            fut = self.engine.waiter(c, "next-exit")
            try:
                self.engine.start_container(c)
            except ApiError as exc:
                self.engine.drop_waiter(c, fut)
                raise StepFailed(str(exc)) from None
            while True:
                item = await queue.get()
                if item is None:
                    break
                yield stream(item[2].decode("utf-8", "replace"))
            code = await fut
        except (GeneratorExit, asyncio.CancelledError):
            # The client went away mid-step: the step's container goes too, as in dockerd.
            with contextlib.suppress(Exception):
                await self.engine.remove_container(c, force=True)
            raise
        finally:
            self.engine.unlisten(c, queue)
        if code != 0:
            if self.options.forcerm:
                self.engine._destroy_now(c)
                yield stream(f"Removing intermediate container {c.short}\n")
            raise StepFailed(
                f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code
            )
        self._result = im.commit(
            self.engine, c, config=_image_cfg(cfg), replace=True, created_by=created_by, cache=key
        )
        if self.options.rm:
            self.engine._destroy_now(c)
            yield stream(f"Removing intermediate container {c.short}\n")

    async def _copy(
        self, inst: Instruction, image: Image, cfg: dict[str, Any], scope: dict[str, str]
    ) -> AsyncIterator[dict[str, Any]]:
        args = inst.json_args or words(inst.rest)
        source_image = None
        plain = []
        for arg in args:
            if arg.startswith("--from="):
                ref = arg.split("=", 1)[1]
                source_image = self.stages.get(ref.lower())
                if source_image is None:
                    try:
                        source_image = self.engine.images.resolve(ref)
                    except NotFound:
                        raise StepFailed(
                            f"invalid from flag value {ref}: pull access denied for {ref}"
                        ) from None
            elif arg.startswith("--"):
                continue  # --chown, --chmod: owners are not kept in the lab engine
            else:
                plain.append(expand(arg, scope))
        if len(plain) < 2:
            raise StepFailed(
                f"{inst.name} requires at least two arguments, but only one was provided. "
                "Destination could not be determined."
            )
        *sources, dest = plain
        workdir = cfg.get("WorkingDir") or "/"
        dest_abs = dest if dest.startswith("/") else workdir.rstrip("/") + "/" + dest
        files = self._gather(inst.name, sources, source_image)
        digest = hashlib.sha256()
        for path, (kind, data, mode) in sorted(files.items()):
            digest.update(f"{path}\0{kind}\0{mode}\0".encode() + (data or b""))
        single = len(sources) == 1 and not any(ch in sources[0] for ch in "*?[")
        one_file = len(files) == 1 and next(iter(files.values()))[0] == "file"
        kind = "multi" if len(sources) > 1 else "file" if single and one_file else "dir"
        created_by = f"/bin/sh -c #(nop) {inst.name} {kind}:{digest.hexdigest()} in {dest} "
        key = f"{created_by}\n{_cfg_key(cfg)}"
        if self._use_cache(image, key):
            yield stream(" ---> Using cache\n")
            return
        body = self._body(
            image, cfg, ["/bin/sh", "-c", "#(nop) ", f"{inst.name} {' '.join(plain)}"]
        )
        c = self.engine.create_container(None, body)
        try:
            fs = self.engine.container_fs(c)
            into_dir = dest.endswith("/") or len(sources) > 1 or kind == "dir"
            if not into_dir and fs.is_dir(dest_abs):
                into_dir = True
            for rel, (what, data, mode) in sorted(files.items()):
                target = (
                    dest_abs.rstrip("/") + "/" + rel if into_dir or rel.count("/") else dest_abs
                )
                if not into_dir and len(files) == 1:
                    target = dest_abs
                if what == "dir":
                    fs.mkdir(target, parents=True)
                    continue
                parent = posixpath.dirname(target)
                if not fs.exists(parent):
                    fs.mkdir(parent, parents=True)
                if what == "link":
                    with contextlib.suppress(OSError):
                        fs.remove(target)
                    fs.symlink(data.decode(), target)
                else:
                    fs.write(target, data, mode=mode)
            if into_dir and not fs.exists(dest_abs):
                fs.mkdir(dest_abs, parents=True)
            self.engine.save_fs(c, fs)
        except OSError as exc:
            self.engine._destroy_now(c)
            raise StepFailed(f"{inst.name} failed: {exc}") from None
        self._result = im.commit(
            self.engine, c, config=_image_cfg(cfg), replace=True, created_by=created_by, cache=key
        )
        self.engine._destroy_now(c)

    def _gather(
        self, name: str, sources: list[str], source_image: Image | None
    ) -> dict[str, tuple[str, bytes, int]]:
        """What to copy: path relative to the destination -> (kind, bytes, mode)."""
        out: dict[str, tuple[str, bytes, int]] = {}
        if source_image is not None:
            tree = im.tree(self.engine, source_image.rootfs_key)
            for src in sources:
                path = posixpath.normpath("/" + src.lstrip("/"))
                node = tree.get(path)
                if node is None:
                    raise StepFailed(f"COPY failed: stat {path}: file does not exist")
                if node.kind != "dir":
                    out[posixpath.basename(path)] = (node.kind, _bytes(node.data), node.mode)
                    continue
                prefix = path.rstrip("/") + "/"
                for p in sorted(tree.paths()):
                    if p.startswith(prefix):
                        n = tree.get(p)
                        out[p[len(prefix) :]] = (n.kind, _bytes(n.data), n.mode)
            return out
        for src in sources:
            if "://" in src:
                raise StepFailed(
                    f"{name} failed: the lab engine has no network, so it cannot fetch {src}"
                )
            for picked in self.context.select(src):
                info = self.context.files.get(picked)
                if picked and info is not None and not info.isdir():
                    data = self.context.data.get(picked, b"")
                    if name == "ADD" and _is_archive(picked, data):
                        out.update(_unpack(data))
                        continue
                    kind = "link" if info.issym() else "file"
                    payload = info.linkname.encode() if info.issym() else data
                    out[posixpath.basename(picked)] = (kind, payload, info.mode & 0o7777)
                    continue
                base = picked + "/" if picked else ""
                for path in self.context.under(picked):
                    if path == picked:
                        continue
                    info = self.context.files[path]
                    rel = path[len(base) :]
                    if info.isdir():
                        out[rel] = ("dir", b"", info.mode & 0o7777)
                    elif info.issym():
                        out[rel] = ("link", info.linkname.encode(), 0o777)
                    else:
                        out[rel] = ("file", self.context.data.get(path, b""), info.mode & 0o7777)
        return out


def stage_name_done(stages: dict[str, Any], target: str) -> bool:
    return target.lower() in stages


def _bytes(data: Any) -> bytes:
    if data is None:
        return b""
    return data if isinstance(data, bytes) else str(data).encode()


def _is_archive(path: str, data: bytes) -> bool:
    if not path.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".txz")):
        return False
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*"):
            return True
    except tarfile.TarError:
        return False


def _unpack(data: bytes) -> dict[str, tuple[str, bytes, int]]:
    out: dict[str, tuple[str, bytes, int]] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for info in tar.getmembers():
            rel = posixpath.normpath("/" + info.name).lstrip("/")
            if not rel:
                continue
            if info.isdir():
                out[rel] = ("dir", b"", info.mode & 0o7777)
            elif info.issym():
                out[rel] = ("link", info.linkname.encode(), 0o777)
            elif info.isfile():
                handle = tar.extractfile(info)
                out[rel] = ("file", handle.read() if handle else b"", info.mode & 0o7777)
    return out


def _cfg_key(cfg: dict[str, Any]) -> str:
    import json

    return json.dumps({k: v for k, v in cfg.items() if not k.startswith("_")}, sort_keys=True)


def _image_cfg(cfg: dict[str, Any]) -> dict[str, Any]:
    """The configuration a step's image records (the container's own fields left out)."""
    keys = ("User", "ExposedPorts", "Env", "Cmd", "Volumes", "WorkingDir", "Entrypoint")
    keys += ("OnBuild", "Labels", "StopSignal", "Shell", "Healthcheck")
    out = {k: cfg.get(k) for k in keys}
    out["Cmd"] = cfg.get("Cmd")
    return out


def _go_quote(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def parse_tags(values: list[str]) -> list[str]:
    """``t`` values: each a valid reference (dockerd's 400 otherwise)."""
    out = []
    for value in values:
        if not value:
            continue
        ref = refs.parse(value)
        if ref.digest:
            raise BadRequest(f"invalid reference format: {value}")
        out.append(value)
    return out
