"""A replica that dies mid-reply, seen from the member and from the record: the piece is delivered whole (another
replica continued it) and the generation's row names every replica it went through."""

from __future__ import annotations

from sqlalchemy import select

from bot.config import Settings
from bot.core.app import Core
from bot.engines.openai_engine import OpenAIEngine
from storage.chain import request_record, verify
from storage.models import Generation, RequestStatus
from tests.test_pipeline import AUTHOR, BENIGN, RecordingSink, write


async def test_a_reply_cut_off_mid_stream_is_delivered_whole_and_recorded(tmp_path, default_rails, openai_server_factory):
    dying = await openai_server_factory(scripted_reply=BENIGN, drop_after_tokens=9)
    spare = await openai_server_factory(scripted_reply=BENIGN)
    settings = Settings(data_dir=tmp_path, engine="openai", engine_urls=[dying.base_url, spare.base_url])
    engine = OpenAIEngine.from_settings(settings)
    core = await Core.start(settings, engine=engine, rails=default_rails)
    try:
        sink = RecordingSink()
        outcome = await core.pipeline.run(AUTHOR, write("a lighthouse keeper"), sink)
        await core.recorder.flush()
        async with core.database.connect() as connection:
            [generation] = (await connection.execute(select(Generation).where(Generation.request_id == outcome.request_id))).all()
        report = await verify(core.database)
    finally:
        await core.close()
        await engine.close()

    assert outcome.status == RequestStatus.DELIVERED and sink.delivered.startswith(BENIGN)
    assert all(later.startswith(earlier) for earlier, later in zip(sink.shown, sink.shown[1:])), "never restarted"
    assert generation.raw_output == BENIGN and generation.output_tokens == len(BENIGN.split(" "))
    cut_at = len(" ".join(BENIGN.split(" ")[:9]))
    assert [entry["replica"] for entry in generation.replicas] == [dying.base_url, spare.base_url]
    assert generation.replicas[0]["shown_chars"] == cut_at and "error" in generation.replicas[0]
    assert report.intact and report.records >= 1


async def test_a_generation_without_failover_digests_as_before_the_replicas_column(tmp_path, default_rails, openai_server):
    # Records chained before migration 0009 were digested without a `replicas` field. A NULL there is left out of
    # the digest, so those records (and every new one served by its first replica) still verify after the upgrade.
    openai_server.scripted_reply = BENIGN
    settings = Settings(data_dir=tmp_path, engine="openai", engine_urls=[openai_server.base_url])
    engine = OpenAIEngine.from_settings(settings)
    core = await Core.start(settings, engine=engine, rails=default_rails)
    try:
        outcome = await core.pipeline.run(AUTHOR, write("a lighthouse keeper"), RecordingSink())
        await core.recorder.flush()
        async with core.database.connect() as connection:
            record = await request_record(connection, outcome.request_id)
    finally:
        await core.close()
        await engine.close()

    [generation] = record["generations"]
    assert "replicas" not in generation and "raw_output" in generation
