"""The catalog resources: what each one is, for the shared mechanism in ``crud.py``."""

from __future__ import annotations

from buildstate.server.catalog import schemas as s
from buildstate.server.catalog.crud import CatalogSpec
from buildstate.server.catalog.models import ImageType, OsVersion, Platform
from buildstate.server.projects.models import Project

PLATFORMS = CatalogSpec(
    model=Platform,
    label="Platform",
    path="/platforms",
    tag="platforms",
    create=s.PlatformCreate,
    update=s.PlatformUpdate,
    read=s.PlatformRead,
    natural_key=("name",),
    slug_ids=True,
)
OS_VERSIONS = CatalogSpec(
    model=OsVersion,
    label="OS version",
    path="/os_versions",
    tag="os_versions",
    create=s.OsVersionCreate,
    update=s.OsVersionUpdate,
    read=s.OsVersionRead,
    natural_key=("name", "version"),
)
IMAGE_TYPES = CatalogSpec(
    model=ImageType,
    label="Image type",
    path="/image_types",
    tag="image_types",
    create=s.DescribedCreate,
    update=s.DescribedUpdate,
    read=s.DescribedRead,
    natural_key=("name",),
)
PROJECTS = CatalogSpec(
    model=Project,
    label="Project",
    path="/projects",
    tag="projects",
    create=s.DescribedCreate,
    update=s.DescribedUpdate,
    read=s.DescribedRead,
    natural_key=("name",),
)
ALL = (PLATFORMS, OS_VERSIONS, IMAGE_TYPES, PROJECTS)
