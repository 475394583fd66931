"""The sections of `Settings` for generated media: jobs, moderation and storage (config.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from smarthub_mcp.config_base import Section


class ModerationConfig(Section):
    """Checks every generation prompt must pass before any credit moves (images and video always;
    chat and template runs when `chat` is on)."""

    enabled: bool = Field(True, description="Check prompts at all.")
    chat: bool = Field(False, description="Check chat and template prompts too (images and video always are).")
    block_list: dict[str, list[str]] = Field(
        default_factory=dict, description="Category -> words or phrases (whole words, any case), or /regex/."
        " A prompt that contains one is refused with that category."
    )
    openai_provider: str | None = Field(
        None, description="An [providers.*] entry of type openai whose key (and base_url) call OpenAI's"
        " moderation endpoint; unset: the block list only."
    )
    model: str = Field("omni-moderation-latest", description="The moderation model.")
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Category -> score at or above which a prompt is refused; categories"
        " not listed refuse when the endpoint flags them."
    )
    media_fail: Literal["closed", "open"] = Field(
        "closed", description="When the moderation endpoint cannot answer: refuse image and video prompts (closed)"
        " or let them through with a warning logged (open)."
    )
    chat_fail: Literal["closed", "open"] = Field("open", description="The same for chat and template prompts.")
    timeout_seconds: float = Field(5.0, gt=0, le=60, description="How long to wait for the moderation endpoint.")
    outputs: bool = Field(
        True, description="Check generated images (and a video's poster frame) with the moderation endpoint too,"
        " when one is configured; a flagged output is held for review, not charged unless approved."
    )
    role_thresholds: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Role -> category -> a tighter threshold for that role's users (the"
        " lower of this and `thresholds` applies)."
    )
    review_hold_days: int = Field(
        30, ge=1, le=365, description="How long the price of an output held for review stays held; an output"
        " approved later is delivered uncharged."
    )
    repeat_offender_trips: int = Field(
        5, ge=1, description="Refused prompts and held outputs within `repeat_offender_days` that flag a user for"
        " an admin's review."
    )
    repeat_offender_days: int = Field(7, ge=1, le=365, description="The window `repeat_offender_trips` counts in.")


class JobsConfig(Section):
    """Generation jobs (images, video): how long a call waits, how workers poll, how long credits stay held."""

    wait_seconds: float = Field(
        45.0, ge=0, le=600, description="How long generate_image waits for its images before answering with the"
        " job id (the job goes on; get_job shows it). Keep it under the MCP clients' tool timeouts (about 60 s)."
    )
    http_wait_seconds: float = Field(
        120.0, ge=0, le=600, description="The same for /v1/images/generations, whose OpenAI SDK callers"
        " expect the images in the answer."
    )
    max_images: int = Field(4, ge=1, le=10, description="Most images one call may ask for.")
    deadline_seconds: int = Field(
        900, ge=30, description="After this long without a result a job's outcome is 'unknown': it keeps its"
        " credits held and is polled slowly, never refunded while the provider may still finish and bill."
    )
    reconcile_seconds: int = Field(
        7 * 24 * 3600, ge=3600, description="How long an unknown job keeps its credits held for reconciling"
        " (by late polls or an admin) before the hold expires and the credits return."
    )
    poll_interval_seconds: float = Field(2.0, gt=0, le=300, description="Time between two polls of a running job.")
    unknown_poll_interval_seconds: float = Field(300.0, gt=0, description="Time between polls of an unknown job.")
    lease_seconds: float = Field(
        60.0, ge=5, description="How long a worker owns a job it is stepping; renewed while it works. A worker"
        " that dies loses its jobs to another after this long."
    )
    worker_interval_seconds: float = Field(1.0, gt=0, le=60, description="How often workers look for due jobs.")
    worker_concurrency: int = Field(4, ge=1, le=256, description="Jobs one replica steps at once.")
    workers: bool = Field(True, description="Run job workers in this process (any number of replicas may).")
    webhooks: bool = Field(
        False, description="Give providers that can post results (fal, kie) a webhook URL on server.public_base_url,"
        " so a finished job settles at once; polling goes on regardless. Only when that URL is reachable from"
        " the internet."
    )
    email_on_completion: bool = Field(
        False, description="Email a job's owner when it ends after its call stopped waiting (videos, mostly)."
    )
    webhook_allow_private: bool = Field(
        False, description="Let users' webhook URLs be http:// or resolve to private addresses. Tests only:"
        " otherwise a user could make this server call into its own network."
    )
    fetch_allow_private: bool = Field(
        False, description="Let provider output links (and their redirects) point at loopback or private addresses:"
        " for tests against loopback fakes, or providers on your own network. Otherwise a provider's answer could"
        " make this server fetch from its own network and store the bytes for a user."
    )
    fetch_max_bytes: int = Field(
        50 * 1024 * 1024, ge=1024, description="Largest output file copied from a provider's URL into storage."
    )


class StorageConfig(Section):
    """Where generated media is kept, and how long its download links stay valid."""

    backend: Literal["local", "s3"] = Field(
        "local", description="local: files under `directory`, served by this server through signed links;"
        " s3: an S3-compatible bucket, with presigned links."
    )
    directory: str = Field("./media", description="The local backend's root directory (created on first write).")
    url_ttl_seconds: int = Field(
        3600, ge=60, le=7 * 24 * 3600, description="How long a download link works (S3 allows at most 7 days)."
    )
    bucket: str | None = Field(None, description="s3: the bucket (required for the s3 backend).")
    prefix: str = Field("", description="s3: a folder inside the bucket for every object, e.g. 'smarthub/'.")
    endpoint_url: str | None = Field(
        None, description="s3: the endpoint of an S3-compatible store (MinIO, R2, B2...); unset for AWS."
    )
    region: str | None = Field(None, description="s3: the bucket's region, e.g. 'eu-west-1'.")
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="s3: 'path' for most self-hosted stores (MinIO), 'virtual' or 'auto' for AWS."
    )
    access_key_id_env: str = Field(
        "AWS_ACCESS_KEY_ID", description="s3: the environment variable holding the access key id; when it is"
        " unset, boto3's own credential chain (profile, instance role) applies."
    )
    secret_access_key_env: str = Field(
        "AWS_SECRET_ACCESS_KEY", description="s3: the environment variable holding the secret access key."
    )
    timeout_seconds: float = Field(30.0, gt=0, description="s3: read timeout of one request to the store.")
