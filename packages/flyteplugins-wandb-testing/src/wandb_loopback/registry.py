"""W&B Registry: an organization, links of artifact versions into registry collections, deletion.

What wandb 0.31 sends for ``run.link_artifact(art, "wandb-registry-model/demo", aliases=[...])``
(``Artifact.link``): ``FetchOrgInfoFromEntity`` (``entity{organization{name orgEntity{name}}}``: a
registry lives in the organization's entity, not the run's), then ``LinkArtifact`` with
``{artifactID, artifactPortfolioName: "demo", entityName: <org entity>, projectName:
"wandb-registry-model", aliases: [{artifactCollectionName, alias}]}``, reading back
``versionIndex`` and the ``artifactMembership``. ``run.use_artifact("wandb-registry-model/demo:staging")``
resolves the org the same way and reads ``project(wandb-registry-model).artifactCollectionMembership``
(see docs/registry-protocol.md in this package). ``Artifact.delete()`` sends ``DeleteArtifact``.

A link is a membership: the source version appears as ``vN`` of the registry collection, with its own
aliases (unique within the collection; ``latest`` moves to the newest link), and the artifact object
handed back is the source artifact. Deleting a version that is linked or has aliases other than
``latest`` fails unless ``deleteAliases`` is set, as on W&B.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .gql_values import GraphQLFailure, connection
from .store import now_iso, opaque_id

if TYPE_CHECKING:
    from .artifacts import ArtifactRecord, ArtifactStore

REGISTRY_PREFIX = "wandb-registry-"


def org_entity(entity: str) -> str:
    """The organization entity (where registries live) of a user or team entity."""
    return entity if entity.endswith("-org") else f"{entity}-org"


@dataclass
class LinkRecord:
    """One version of a registry (or any portfolio) collection: a pointer to a source artifact."""

    entity: str  # the org entity
    project: str  # "wandb-registry-<registry>"
    collection: str
    artifact_id: str
    version_index: int
    aliases: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)

    @property
    def qualified(self) -> str:
        return f"{self.entity}/{self.project}/{self.collection}:v{self.version_index}"


class Registry:
    """Links and organizations (state guarded by the server store's lock)."""

    def __init__(self, artifacts: ArtifactStore) -> None:
        self.artifacts = artifacts
        self.links: list[LinkRecord] = []

    # -- lookups tests use -------------------------------------------------------------------
    def links_of(self, artifact_id: str) -> list[LinkRecord]:
        return [link for link in self.links if link.artifact_id == artifact_id]

    def members(self, entity: str | None, project: str, collection: str) -> list[LinkRecord]:
        return [
            link
            for link in self.links
            if link.project == project and link.collection == collection and (entity is None or link.entity == entity)
        ]

    def find(self, entity: str | None, project: str, name: str) -> LinkRecord | None:
        collection, _, alias = name.partition(":")
        alias = alias or "latest"
        for link in self.members(entity, project, collection):
            if alias in link.aliases or alias == f"v{link.version_index}":
                return link
        return None

    # -- GraphQL objects ---------------------------------------------------------------------
    def organization(self, entity: str) -> dict[str, Any]:
        org = org_entity(entity)
        return {
            "__typename": "Organization",
            "id": opaque_id("Organization", org),
            "name": org,
            "orgType": "ORGANIZATION",
            "orgEntity": {
                "__typename": "Entity",
                "id": opaque_id("Entity", org),
                "name": org,
                "entityType": "ORGANIZATION",
            },
        }

    def membership(self, link: LinkRecord) -> dict[str, Any]:
        store = self.artifacts
        source = store.by_id[link.artifact_id]
        collection = {
            "__typename": "ArtifactPortfolio",
            "id": opaque_id("ArtifactCollection", link.entity, link.project, link.collection),
            "name": link.collection,
            "project": store.schema._project(link.entity, link.project),
        }
        art = store.obj(source)
        return {
            "__typename": "ArtifactCollectionMembership",
            "id": opaque_id("Membership", link.entity, link.project, link.collection, str(link.version_index)),
            "versionIndex": link.version_index,
            "createdAt": link.created_at,
            "aliases": [
                {
                    "__typename": "ArtifactAlias",
                    "id": opaque_id("Alias", link.collection, al),
                    "alias": al,
                    "artifactCollection": collection,
                }
                for al in link.aliases
            ],
            "artifactCollection": collection,
            "artifact": art,
            "files": art["files"],
        }

    def project_fields(self, entity: str, project: str) -> dict[str, Any] | None:
        """``artifactCollectionMembership`` / ``artifact`` / ``artifactCollection`` of a registry project."""
        if not project.startswith(REGISTRY_PREFIX):
            return None

        def membership(name: str | None = None, **_: Any) -> dict[str, Any] | None:
            link = self.find(entity, project, name or "")
            return self.membership(link) if link else None

        def artifact(name: str | None = None, **_: Any) -> dict[str, Any] | None:
            link = self.find(entity, project, name or "")
            return self.membership(link)["artifact"] if link else None

        def collection(name: str | None = None, **_: Any) -> dict[str, Any] | None:
            members = self.members(entity, project, name or "")
            if not members:
                return None

            def member(aliasName: str | None = None, **_: Any) -> dict[str, Any] | None:
                link = self.find(entity, project, f"{name}:{aliasName or 'latest'}")
                return self.membership(link) if link else None

            return {
                **self.membership(members[-1])["artifactCollection"],
                "artifactMembership": member,
                "artifactMemberships": lambda **kw: connection(
                    [self.membership(m) for m in members], kw.get("first"), kw.get("after")
                ),
            }

        return {"artifact": artifact, "artifactCollection": collection, "artifactCollectionMembership": membership}

    # -- mutations -----------------------------------------------------------------------------
    def link(self, data: dict[str, Any]) -> dict[str, Any]:
        source = self.artifacts.by_id.get(data.get("artifactID") or "")
        if source is None:
            raise GraphQLFailure(f"artifact {data.get('artifactID')!r} not found")
        if source.state != "COMMITTED":
            raise GraphQLFailure(f"artifact {source.qualified} is not committed yet")
        entity = data.get("entityName") or org_entity(source.entity)
        project = data.get("projectName") or ""
        collection = data.get("artifactPortfolioName") or ""
        if not project or not collection:
            raise GraphQLFailure("linkArtifact needs projectName and artifactPortfolioName")
        members = self.members(entity, project, collection)
        link = next((m for m in members if m.artifact_id == source.id), None)
        wanted = [a["alias"] for a in data.get("aliases") or [] if a.get("alias")]
        if link is None:  # a new version of the collection, which becomes its latest
            index = max((m.version_index for m in members), default=-1) + 1
            link = LinkRecord(entity, project, collection, source.id, index)
            self.links.append(link)
            wanted.append("latest")
        # else: linking the same version again only adds aliases, as on W&B
        wanted = list(dict.fromkeys(wanted))
        for other in self.members(entity, project, collection):
            if other is not link:  # an alias names one version of the collection: it moves
                other.aliases = [a for a in other.aliases if a not in wanted]
        link.aliases = list(dict.fromkeys([*link.aliases, *wanted]))
        return {"versionIndex": link.version_index, "artifactMembership": self.membership(link)}

    def delete(self, data: dict[str, Any]) -> dict[str, Any]:
        rec = self.artifacts.by_id.get(data.get("artifactID") or "")
        if rec is None:
            raise GraphQLFailure(f"artifact {data.get('artifactID')!r} not found")
        force = bool(data.get("deleteAliases"))
        user_aliases = [a for a in rec.aliases if a != "latest"]
        if not force and (user_aliases or self.links_of(rec.id)):
            raise GraphQLFailure(
                f"cannot delete artifact {rec.qualified}: it has aliases {user_aliases} or registry links; "
                "pass deleteAliases to delete it anyway"
            )
        self.links = [link for link in self.links if link.artifact_id != rec.id]
        self.artifacts.remove(rec)
        return {"artifact": {"id": rec.id}}

    def lineage_links(self, rec: ArtifactRecord) -> list[dict[str, Any]]:
        return [{"target": link.qualified, "aliases": list(link.aliases)} for link in self.links_of(rec.id)]
