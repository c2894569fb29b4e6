"""Images the engine holds: the catalogue's, "pulled", and those made here.

A pulled image's record holds only what changes (tags, repo digests, when it was
pulled); the rest of ``/images/{name}/json`` comes from :mod:`catalogue`. An image
made here (built, committed, imported, loaded) also keeps its image configuration,
the JSON document whose sha256 is its id, as in dockerd; see :mod:`local_images`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from labkit.engine.model import catalogue, refs
from labkit.engine.model.catalogue import ImageSpec
from labkit.engine.model.clock import NS, parse_instant, rfc3339
from labkit.engine.model.errors import BadRequest, Conflict, NotFound
from labkit.engine.model.local_images import LocalImage, history_rows, rootfs_key
from labkit.engine.model.store import Store
from labkit.engine.model.versions import older_than


def _created_ns(spec: ImageSpec) -> int:
    return parse_instant(spec.created)


@dataclass
class Image:
    id: str
    repo: str  # catalogue key
    tags: list[str] = field(default_factory=list)  # familiar "busybox:latest"
    digests: list[str] = field(default_factory=list)  # "busybox@sha256:…"
    pulled: int = 0  # ns
    tagged: int = 0  # ns of the last tag change (Metadata.LastTagTime)
    # An image made here: {"raw": its image configuration (JSON text), "parent": id or "",
    # "size": bytes its layers hold, "cache": the build step it was made by}.
    own: dict[str, Any] | None = None

    @property
    def local(self) -> LocalImage | None:
        """The configuration of an image made here (None for a catalogue image)."""
        if self.own is None:
            return None
        cached = getattr(self, "_local", None)
        if cached is None:
            cached = LocalImage(self.own)
            object.__setattr__(self, "_local", cached)
        return cached

    @property
    def created_ns(self) -> int:
        local = self.local
        return local.created_ns if local is not None else _created_ns(self.spec)

    @property
    def size(self) -> int:
        local = self.local
        return local.size if local is not None else self.spec.size

    @property
    def parent(self) -> str:
        return self.own.get("parent", "") if self.own is not None else ""

    def config(self) -> dict[str, Any]:
        """What a container made from it starts with (Cmd, Env, Entrypoint, ...)."""
        local = self.local
        if local is not None:
            return local.container_config()
        return self.spec.config()

    @property
    def rootfs_key(self) -> str:
        """What a container records to find its image's file tree again."""
        local = self.local
        return rootfs_key(local.diff_ids) if local is not None else self.spec.rootfs

    @property
    def spec(self) -> ImageSpec:
        spec = catalogue.find(self.repo)
        assert spec is not None, f"image {self.id} has no catalogue entry {self.repo!r}"
        return spec

    def doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "repo": self.repo,
            "tags": self.tags,
            "digests": self.digests,
            "pulled": self.pulled,
            "tagged": self.tagged,
            **({"own": self.own} if self.own is not None else {}),
        }

    @property
    def short(self) -> str:
        return self.id.split(":", 1)[1][:12]

    def labels(self) -> dict[str, str]:
        local = self.local
        if local is not None:
            return dict(local.config.get("Labels") or {})
        return dict(self.spec.labels)

    def summary(self, api_version: str | None, patterns: list[str] | None = None) -> dict[str, Any]:
        """One entry of ``GET /images/json``; with ``reference`` patterns, only the references
        that match them are listed (as dockerd does)."""
        tags, digests = list(self.tags), list(self.digests)
        if patterns:
            tags = [t for t in tags if any(_familiar_match(p, t) for p in patterns)]
            digests = [d for d in digests if any(_familiar_match(p, d) for p in patterns)]
        out: dict[str, Any] = {
            "Containers": -1,
            "Created": self.created_ns // NS,
            "Id": self.id,
            "Labels": self.labels() or None,
            "ParentId": self.parent,
            "RepoDigests": digests,
            "RepoTags": tags,
            "SharedSize": -1,
            "Size": self.size,
        }
        if older_than(api_version, "1.44"):
            out["VirtualSize"] = self.size
        if older_than(api_version, "1.43") and not tags:
            out["RepoTags"] = ["<none>:<none>"]  # API 1.43 dropped these placeholders
            out["RepoDigests"] = digests or ["<none>@<none>"]
        return out

    def inspect(self, api_version: str | None) -> dict[str, Any]:
        """``GET /images/{name}/json``."""
        if self.local is not None:
            return self.local.inspect(self, api_version)
        spec = self.spec
        empty_config = _config({}, None)
        out: dict[str, Any] = {
            "Id": self.id,
            "RepoTags": list(self.tags),
            "RepoDigests": list(self.digests),
            "Parent": "",
            "Comment": "buildkit.dockerfile.v0",
            "Created": rfc3339(_created_ns(spec)),
            "DockerVersion": "",
            "Author": "",
            "Config": _config(spec.config(), None),
            "Architecture": "amd64",
            "Os": "linux",
            "Size": spec.size,
            "GraphDriver": {"Data": None, "Name": "vfs"},
            "RootFS": {"Type": "layers", "Layers": [layer.diff_id for layer in spec.layers]},
            "Metadata": {
                "LastTagTime": rfc3339(self.tagged) if self.tagged else "0001-01-01T00:00:00Z"
            },
        }
        if older_than(api_version, "1.45"):
            out["Container"] = ""
            out["ContainerConfig"] = empty_config
        if older_than(api_version, "1.44"):
            out["VirtualSize"] = spec.size
        if not older_than(api_version, "1.50"):
            # API 1.50 dropped the container-only fields an image's Config never had
            for key in CONTAINER_ONLY_CONFIG:
                out["Config"].pop(key, None)
        return out

    def history(self) -> list[dict[str, Any]]:
        spec = self.spec  # a local image's history is LocalImage.history (it needs the store)
        created = _created_ns(spec) // NS
        rows = [
            {
                "Comment": "buildkit.dockerfile.v0",
                "Created": created,
                "CreatedBy": f"CMD {list(spec.cmd)!r}".replace("'", '"'),
                "Id": self.id,
                "Size": 0,
                "Tags": list(self.tags) or None,
            }
        ]
        for layer in reversed(spec.layers):
            rows.append(
                {
                    "Comment": "buildkit.dockerfile.v0",
                    "Created": created,
                    "CreatedBy": layer.created_by,
                    "Id": "<missing>",
                    "Size": spec.size,
                    "Tags": None,
                }
            )
        return rows


# Config fields of a container that image inspect showed, always empty, until API 1.50.
CONTAINER_ONLY_CONFIG = (
    "Hostname",
    "Domainname",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Image",
)


def _config(cfg: dict[str, Any], hostname: str | None) -> dict[str, Any]:
    return {
        "Hostname": hostname or "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": cfg.get("Env"),
        "Cmd": cfg.get("Cmd"),
        "Image": "",
        "Volumes": None,
        "WorkingDir": cfg.get("WorkingDir", ""),
        "Entrypoint": cfg.get("Entrypoint"),
        "OnBuild": None,
        "Labels": cfg.get("Labels"),
    }


def no_such_image(name: str) -> NotFound:
    """dockerd's wording: a name gets its default tag, an id-like prefix does not."""
    try:
        ref = refs.parse(name)
        shown = str(ref)
    except BadRequest:
        shown = name
    if refs.is_full_id(name) or (name.isalnum() and all(c in "0123456789abcdef" for c in name)):
        shown = name
    return NotFound(f"No such image: {shown}")


class ImageStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.images: dict[str, Image] = {}
        for doc in store.all("images"):
            image = Image(**doc)
            self.images[image.id] = image

    def save(self, image: Image) -> None:
        self.store.put("images", image.id, image.doc())

    # lookup ------------------------------------------------------------------------
    def find_tag(self, tagged: str) -> Image | None:
        for image in self.images.values():
            if tagged in image.tags or tagged in image.digests:
                return image
        return None

    def resolve(self, name: str) -> Image:
        """An image by name (any spelling), full id or unique id prefix; 404 otherwise."""
        if not name:
            raise no_such_image(name)
        if refs.is_full_id(name):
            full = name if name.startswith("sha256:") else f"sha256:{name}"
            if full in self.images:
                return self.images[full]
            raise no_such_image(name)
        try:
            ref = refs.parse(name)
        except BadRequest:
            if not all(c in "0123456789abcdef" for c in name.removeprefix("sha256:")):
                raise
            ref = None
        if ref is not None:
            image = self.find_tag(str(ref))
            if image is not None:
                return image
        prefix = name[7:] if name.startswith("sha256:") else name
        if prefix and all(c in "0123456789abcdef" for c in prefix):
            found = [i for i in self.images.values() if i.id[7:].startswith(prefix)]
            if len(found) == 1:
                return found[0]
        raise no_such_image(name)

    def history(self, image: Image, layer_size: Any) -> list[dict[str, Any]]:
        """``docker history``: each row names the image here that added it, if any."""
        if image.local is None:
            return image.history()
        chain = [image]
        while chain[-1].parent and chain[-1].parent in self.images and len(chain) < 1000:
            chain.append(self.images[chain[-1].parent])
        return history_rows(chain, layer_size)

    # changes ----------------------------------------------------------------------------
    def add(self, spec: ImageSpec, ref: refs.Reference, now: int) -> tuple[Image, bool]:
        """Record a pull of ``ref``; returns (image, whether anything new was recorded)."""
        image = self.images.get(spec.id)
        created = image is None
        if image is None:
            image = Image(id=spec.id, repo=spec.repo, pulled=now)
            self.images[image.id] = image
        changed = created
        digest_ref = f"{spec.repo}@{spec.digest}"
        if digest_ref not in image.digests:
            image.digests.append(digest_ref)
            changed = True
        if ref.digest is None:
            tagged = ref.tagged()
            owner = self.find_tag(tagged)
            if owner is not None and owner is not image:
                owner.tags.remove(tagged)
                self.save(owner)
            if tagged not in image.tags:
                image.tags.append(tagged)
                image.tagged = now
                changed = True
        self.save(image)
        return image, changed

    def tag(self, image: Image, ref: refs.Reference, now: int) -> Image | None:
        """Point ``ref`` at ``image``; returns the image that lost the tag, if any."""
        tagged = ref.tagged()
        owner = self.find_tag(tagged)
        if owner is image:
            return None
        if owner is not None:
            owner.tags.remove(tagged)
            self.save(owner)
        image.tags.append(tagged)
        image.tagged = now
        self.save(image)
        return owner

    def untag(self, image: Image, tagged: str) -> None:
        image.tags.remove(tagged)
        self.save(image)

    def remove(self, image: Image) -> None:
        self.images.pop(image.id, None)
        self.store.delete("images", image.id)

    # listing -------------------------------------------------------------------------
    def list(self, all_: bool, filters: dict[str, list[str]]) -> list[Image]:
        images = sorted(self.images.values(), key=lambda i: (i.created_ns, i.id), reverse=True)
        parents = {i.parent for i in images if i.parent}
        out = []
        for image in images:
            if not all_ and not image.tags and image.id in parents:
                continue  # an intermediate image of a build: only ``docker images -a`` shows it
            if _image_matches(image, filters, self):
                out.append(image)
        return out


def _image_matches(image: Image, filters: dict[str, list[str]], store: ImageStore) -> bool:
    if "dangling" in filters:
        want = filters["dangling"][-1].lower() in ("true", "1")
        if want != (not image.tags):
            return False
    if "reference" in filters and not any(
        _ref_matches(image, pattern) for pattern in filters["reference"]
    ):
        return False
    if "label" in filters:
        labels = image.labels()
        for label in filters["label"]:
            key, eq, value = label.partition("=")
            if key not in labels or (eq and labels[key] != value):
                return False
    for key, newer in (("before", False), ("since", True)):
        if key in filters:
            other = store.resolve(filters[key][-1])
            mine, theirs = image.created_ns, other.created_ns
            if (newer and mine <= theirs) or (not newer and mine >= theirs):
                return False
    return True


def _familiar_match(pattern: str, ref: str) -> bool:
    """dockerd's reference filter: the whole familiar reference, or just its repository."""
    repo = ref.split("@", 1)[0]
    if "@" not in ref:
        slash = repo.rfind("/")
        colon = repo.rfind(":")
        if colon > slash:
            repo = repo[:colon]
    return fnmatchcase(ref, pattern) or fnmatchcase(repo, pattern)


def _ref_matches(image: Image, pattern: str) -> bool:
    return any(_familiar_match(pattern, ref) for ref in [*image.tags, *image.digests])


def conflict_in_use(name: str, container_short: str, image: Image) -> Conflict:
    return Conflict(
        f'conflict: unable to remove repository reference "{name}" (must force) - '
        f"container {container_short} is using its referenced image {image.short}"
    )
