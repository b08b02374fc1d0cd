"""Artifacts: create, upload, commit, fetch (by name/alias, manifest, files), use, and lineage.

What wandb 0.31 sends, in order, for ``run.log_artifact``: ``ArtifactType`` (a query), then
``CreateArtifact``, ``CreateArtifactManifest`` (twice, the second reading an upload URL),
``CreateArtifactFiles``, PUTs of the files and the manifest, and ``CommitArtifact``. ``run.use_artifact``
resolves the artifact by name (``project.artifact(name: "name:alias")``), reports ``UseArtifact`` and
downloads the manifest and files from the URLs handed out here.

File contents are stored content-addressed (by md5) through the server's ``/storage/`` PUT/GET, so an
unchanged file uploaded twice is kept once. Aliases are unique within a collection and move to the
newest version on commit, as on W&B. Tests read lineage back with `ArtifactStore.lineage()`, or
through the public Api (``run.logged_artifacts()``, ``run.used_artifacts()``, ``artifact.logged_by()``,
``artifact.used_by()``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .gql_values import GraphQLFailure, connection
from .registry import Registry
from .store import INTERNAL_ENTITY, now_iso, opaque_id

if TYPE_CHECKING:
    from .schema import Schema

BLOBS = (INTERNAL_ENTITY, "blobs", "_")  # storage (entity, project, run) holding file contents by md5
MANIFESTS = (INTERNAL_ENTITY, "manifests", "_")


@dataclass
class ArtifactRecord:
    id: str
    entity: str
    project: str
    collection: str
    type: str
    digest: str
    version_index: int
    metadata: str = "{}"
    description: str | None = None
    state: str = "PENDING"
    aliases: list[str] = field(default_factory=list)
    pending_aliases: list[str] = field(default_factory=list)
    created_by: str | None = None  # run name
    used_by: list[str] = field(default_factory=list)  # run names, in order of use
    # Where each using run lives: a consumer may be in another project (a registry version's user).
    used_in: dict[str, tuple[str, str]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {md5, size}
    created_at: str = field(default_factory=now_iso)

    @property
    def version(self) -> str:
        return f"v{self.version_index}"

    @property
    def qualified(self) -> str:
        return f"{self.entity}/{self.project}/{self.collection}:{self.version}"


def _hex(md5_b64: str) -> str:
    try:
        return base64.b64decode(md5_b64).hex()
    except ValueError:
        return md5_b64


class ArtifactStore:
    """Artifact state of one server (guarded by the server store's lock, like the rest)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.by_id: dict[str, ArtifactRecord] = {}
        self._n = 0
        # Version numbers are never reused, even after a version is deleted (as on W&B).
        self._next_version: dict[tuple[str, str, str], int] = {}
        self.registry = Registry(self)

    # -- lookups tests use -------------------------------------------------------------------
    def versions(self, collection: str, project: str | None = None) -> list[ArtifactRecord]:
        return sorted(
            (
                a
                for a in self.by_id.values()
                if a.collection == collection and (project is None or a.project == project)
            ),
            key=lambda a: a.version_index,
        )

    def find(self, entity: str | None, project: str, name: str) -> ArtifactRecord | None:
        """``name:alias`` or ``name:vN`` (alias "latest" when none) in a project, committed only."""
        collection, _, alias = name.partition(":")
        alias = alias or "latest"
        for a in self.versions(collection, project):
            if entity and a.entity != entity:
                continue
            if a.state == "COMMITTED" and (alias in a.aliases or alias == a.version):
                return a
        return None

    def lineage(self) -> list[dict[str, Any]]:
        """One row per artifact version: who logged it and who used it (for tests)."""
        return [
            {
                "artifact": a.qualified,
                "type": a.type,
                "state": a.state,
                "aliases": list(a.aliases),
                "metadata": json.loads(a.metadata or "{}"),
                "logged_by": a.created_by,
                "used_by": list(a.used_by),
                "links": self.registry.lineage_links(a),
                "files": sorted(a.files),
            }
            for a in sorted(self.by_id.values(), key=lambda a: (a.collection, a.version_index))
        ]

    # -- GraphQL objects ---------------------------------------------------------------------
    def _url(self, where: tuple[str, str, str], key: str) -> str:
        return self.schema.storage_url(*where, key)

    def _run_ref(self, rec: ArtifactRecord, name: str | None) -> dict[str, Any] | None:
        if not name:
            return None
        entity, project = rec.used_in.get(name, (rec.entity, rec.project))
        run = self.schema.store.get_run(entity, project, name)
        return self.schema._run(run) if run is not None else None

    def obj(self, rec: ArtifactRecord) -> dict[str, Any]:
        schema = self.schema

        def files(
            names: list[str] | None = None, first: int | None = None, after: str | None = None, **_: Any
        ) -> dict[str, Any]:
            items = [
                {
                    "__typename": "File",
                    "id": opaque_id("File", rec.id, n),
                    "name": n,
                    "displayName": n,
                    "url": self._url(BLOBS, f["md5hex"]),
                    "directUrl": self._url(BLOBS, f["md5hex"]),
                    "sizeBytes": f["size"],
                    "mimetype": None,
                    "md5": f["md5"],
                    "digest": f["md5"],
                    "storagePath": f["md5hex"],
                }
                for n, f in sorted(rec.files.items())
                if not names or n in names
            ]
            return connection(items, first, after)

        collection = {
            "__typename": "ArtifactSequence",
            "id": opaque_id("ArtifactCollection", rec.entity, rec.project, rec.collection),
            "name": rec.collection,
            "project": schema._project(rec.entity, rec.project),
            "latestArtifact": {"id": rec.id},
        }
        manifest_url = self._url(MANIFESTS, rec.id)
        return {
            "__typename": "Artifact",
            "id": rec.id,
            "digest": rec.digest,
            "description": rec.description,
            "state": rec.state,
            "size": sum(f["size"] for f in rec.files.values()),
            "fileCount": len(rec.files),
            "metadata": rec.metadata,
            "versionIndex": rec.version_index,
            "commitHash": rec.digest,
            "createdAt": rec.created_at,
            "updatedAt": rec.created_at,
            "ttlDurationSeconds": -1,
            "ttlIsInherited": True,
            "historyStep": None,
            "tags": [],
            "aliases": [
                {
                    "__typename": "ArtifactAlias",
                    "id": opaque_id("Alias", rec.id, al),
                    "alias": al,
                    "artifactCollection": collection,
                }
                for al in rec.aliases
            ],
            "digestAlgorithm": "MANIFEST_MD5",
            "artifactType": {"id": opaque_id("ArtifactType", rec.type), "name": rec.type},
            "artifactSequence": collection,
            "artifactCollection": collection,
            "sourceCollection": collection,
            "sourceProject": collection["project"],
            # The version's own collection first, then each registry collection it is linked into.
            "artifactMemberships": lambda **_: {
                "edges": [{"node": self.membership(rec)}]
                + [{"node": self.registry.membership(link)} for link in self.registry.links_of(rec.id)]
            },
            "currentManifest": {
                "id": opaque_id("Manifest", rec.id),
                "file": {"id": opaque_id("File", rec.id, "manifest"), "directUrl": manifest_url, "url": manifest_url},
            },
            "files": files,
            "createdBy": self._run_ref(rec, rec.created_by),
            "usedBy": lambda **_: {"edges": [{"node": self._run_ref(rec, r)} for r in rec.used_by]},
        }

    # -- queries -------------------------------------------------------------------------------
    def project_fields(self, entity: str, project: str) -> dict[str, Any]:
        """Fields of a ``Project`` object."""
        registry = self.registry.project_fields(entity, project)
        if registry is not None:
            return registry

        def artifact(name: str | None = None, **_: Any) -> dict[str, Any] | None:
            rec = self.find(entity, project, name or "")
            return self.obj(rec) if rec else None

        def artifact_type(name: str | None = None, **_: Any) -> dict[str, Any] | None:
            kinds = {a.type for a in self.by_id.values() if a.project == project}
            if name not in kinds:
                return None
            type_name = name

            def typed_collection(name: str | None = None, **kw: Any) -> dict[str, Any] | None:
                found = collection(name, **kw)  # Api.artifacts(type, name) lists versions from here
                return found if found and found["_type"] == type_name else None

            return {"id": opaque_id("ArtifactType", name), "name": name, "artifactCollection": typed_collection}

        def membership(name: str | None = None, **_: Any) -> dict[str, Any] | None:
            rec = self.find(entity, project, name or "")
            return self.membership(rec) if rec else None

        def collection(name: str | None = None, **_: Any) -> dict[str, Any] | None:
            versions = [a for a in self.versions(name or "", project) if a.entity == entity]
            if not versions:
                return None

            def member(aliasName: str | None = None, **_: Any) -> dict[str, Any] | None:
                rec = self.find(entity, project, f"{name}:{aliasName or 'latest'}")
                return self.membership(rec) if rec else None

            return {
                **self.obj(versions[-1])["artifactCollection"],
                "_type": versions[-1].type,
                "artifactMembership": member,
                "artifacts": lambda **kw: self._versions_connection(versions, kw),
            }

        return {
            "artifact": artifact,
            "artifactType": artifact_type,
            "artifactCollection": collection,
            "artifactCollectionMembership": membership,
        }

    def _versions_connection(self, versions: list[ArtifactRecord], kw: dict[str, Any]) -> dict[str, Any]:
        """A collection's versions as ``Api.artifacts()`` reads them: each edge names its ``vN``."""
        state = (json.loads(kw.get("filters") or "{}") or {}).get("state")
        picked = [a for a in versions if state is None or a.state == state]
        conn = connection([self.obj(a) for a in picked], kw.get("first"), kw.get("after"))
        for edge in conn["edges"]:
            edge["version"] = f"v{edge['node']['versionIndex']}"
        return conn

    def membership(self, rec: ArtifactRecord) -> dict[str, Any]:
        art = self.obj(rec)
        return {
            "__typename": "ArtifactCollectionMembership",
            "id": opaque_id("Membership", rec.id),
            "versionIndex": rec.version_index,
            "createdAt": rec.created_at,
            "aliases": art["aliases"],
            "artifactCollection": art["artifactCollection"],
            "artifact": art,
            "files": art["files"],
        }

    def artifact_by_id(self, id: str | None = None, **_: Any) -> dict[str, Any] | None:
        rec = self.by_id.get(id or "")
        return self.obj(rec) if rec else None

    def run_fields(self, entity: str, project: str, run: str) -> dict[str, Any]:
        """``outputArtifacts`` / ``inputArtifacts`` of a ``Run`` (the public Api's lineage reads)."""

        def out(**kw: Any) -> dict[str, Any]:
            items = [self.obj(a) for a in self._sorted() if a.created_by == run and a.project == project]
            return {**connection(items, kw.get("first"), kw.get("after")), "totalCount": len(items)}

        def used(**kw: Any) -> dict[str, Any]:
            items = [self.obj(a) for a in self._sorted() if a.used_in.get(run) == (entity, project)]
            return {**connection(items, kw.get("first"), kw.get("after")), "totalCount": len(items)}

        return {"outputArtifacts": out, "inputArtifacts": used}

    def _sorted(self) -> list[ArtifactRecord]:
        return sorted(self.by_id.values(), key=lambda a: (a.collection, a.version_index))

    # -- mutations -----------------------------------------------------------------------------
    def mutations(self) -> dict[str, Any]:
        return {
            "createArtifact": lambda input=None, **_: self.create(input or {}),
            "createArtifactManifest": lambda input=None, **_: self.create_manifest(input or {}),
            "updateArtifactManifest": lambda input=None, **_: self.create_manifest(input or {}),
            "createArtifactFiles": lambda input=None, **_: self.create_files(input or {}),
            "commitArtifact": lambda input=None, **_: self.commit(input or {}),
            "useArtifact": lambda input=None, **_: self.use(input or {}),
            "linkArtifact": lambda input=None, **_: self.registry.link(input or {}),
            "deleteArtifact": lambda input=None, **_: self.registry.delete(input or {}),
        }

    def _get(self, artifact_id: str | None) -> ArtifactRecord:
        rec = self.by_id.get(artifact_id or "")
        if rec is None:
            raise GraphQLFailure(f"artifact {artifact_id!r} not found")
        return rec

    def create(self, data: dict[str, Any]) -> dict[str, Any]:
        entity = data.get("entityName") or self.schema.entity
        project = data.get("projectName") or ""
        collection = data.get("artifactCollectionName") or ""
        if not project or not collection:
            raise GraphQLFailure("createArtifact needs projectName and artifactCollectionName")
        existing = self.versions(collection, project)
        aliases = [a["alias"] for a in data.get("aliases") or [] if a.get("alias")]
        same = next((a for a in existing if a.digest == data.get("digest")), None)
        if same is not None:  # W&B deduplicates an identical version: it gains the new aliases
            same.pending_aliases = aliases
            if same.state == "COMMITTED":
                self._apply_aliases(same)
            return {"artifact": self.obj(same)}
        self._n += 1
        key = (entity, project, collection)
        index = self._next_version.get(key, 0)
        self._next_version[key] = index + 1
        rec = ArtifactRecord(
            id=opaque_id("Artifact", str(self._n)),
            entity=entity,
            project=project,
            collection=collection,
            type=data.get("artifactTypeName") or "unspecified",
            digest=data.get("digest") or "",
            version_index=index,
            metadata=data.get("metadata") or "{}",
            description=data.get("description"),
            pending_aliases=aliases,
            created_by=data.get("runName"),
        )
        self.by_id[rec.id] = rec
        return {"artifact": self.obj(rec)}

    def create_manifest(self, data: dict[str, Any]) -> dict[str, Any]:
        rec = self._get(data.get("artifactID"))
        url = self._url(MANIFESTS, rec.id)
        return {
            "artifactManifest": {
                "id": opaque_id("Manifest", rec.id),
                "file": {"id": opaque_id("File", rec.id, "manifest"), "uploadUrl": url, "uploadHeaders": []},
            }
        }

    def create_files(self, data: dict[str, Any]) -> dict[str, Any]:
        edges = []
        for spec in data.get("artifactFiles") or []:
            rec = self._get(spec.get("artifactID"))
            md5 = spec.get("md5") or ""
            key = _hex(md5)
            name = spec.get("name") or key
            rec.files[name] = {"md5": md5, "md5hex": key, "size": 0}
            node: dict[str, Any] = {
                "id": opaque_id("File", rec.id, name),
                "name": name,
                "displayName": name,
                "storagePath": key,
                "uploadUrl": self._url(BLOBS, key),
                "uploadHeaders": [],
                "uploadMultipartUrls": None,
                "artifact": {"id": rec.id},
            }
            edges.append({"node": node})
        return {"files": {"edges": edges}}

    def commit(self, data: dict[str, Any]) -> dict[str, Any]:
        rec = self._get(data.get("artifactID"))
        rec.state = "COMMITTED"
        for info in rec.files.values():
            blob = self.schema.store.get_file(*BLOBS, info["md5hex"])
            info["size"] = len(blob) if blob is not None else 0
        self._apply_aliases(rec)
        return {"artifact": self.obj(rec)}

    def _apply_aliases(self, rec: ArtifactRecord) -> None:
        wanted = list(dict.fromkeys([*rec.pending_aliases, "latest"]))
        for other in self.versions(rec.collection, rec.project):
            if other is not rec:
                other.aliases = [a for a in other.aliases if a not in wanted]
        rec.aliases = list(dict.fromkeys([*rec.aliases, *wanted]))
        rec.pending_aliases = []

    def remove(self, rec: ArtifactRecord) -> None:
        """Forget a deleted version; ``latest`` moves back to the newest committed one that is left."""
        del self.by_id[rec.id]
        left = [a for a in self.versions(rec.collection, rec.project) if a.state == "COMMITTED"]
        if "latest" in rec.aliases and left and "latest" not in left[-1].aliases:
            left[-1].aliases.append("latest")

    def use(self, data: dict[str, Any]) -> dict[str, Any]:
        rec = self._get(data.get("artifactID"))
        run = data.get("runName")
        if run and run not in rec.used_by:
            rec.used_by.append(run)
            place = (data.get("entityName") or rec.entity, data.get("projectName") or rec.project)
            rec.used_in[run] = place
        return {"artifact": self.obj(rec)}
