# SPDX-License-Identifier: LGPL-2.1-or-later
"""Timed and live text through the whole pipeline, checked in embedsink's JSON Lines:

- speech: espeak-ng makes a WAV, pocketsphinx (gstreamer1.0-pocketsphinx, Debian) transcribes it
  into text/plain buffers — one per utterance, ending in "\\n", without timestamps — and the
  recognised text comes out as normalised 384-dim embeddings; paced in real time (a live
  pipeline), each utterance is emitted without waiting for the chunk to fill;
- subtitles: subparse (SRT, WebVTT) gives pango-markup cues with timestamps; every chunk's "pts"
  is the start of the cue holding its first byte, its "duration" reaches the end of the cue
  holding its last byte (byte offsets count the stripped text, cues joined by "\\n").
"""
import json
import math
import shutil
import subprocess

import pytest

from conftest import gst_env

SECOND = 1_000_000_000


def launch(*elements, timeout=300):
    cmd = ["gst-launch-1.0", "-q", *elements]
    p = subprocess.run(cmd, env=gst_env(), capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def have_element(name):
    p = subprocess.run(["gst-inspect-1.0", name], env=gst_env(), capture_output=True)
    return p.returncode == 0


def check_embedding(row):
    assert len(row["embedding"]) == 384
    norm = math.sqrt(sum(x * x for x in row["embedding"]))
    assert abs(norm - 1) < 1e-4


EMBED = ["!", "texttokenizer", "!", "npuencoder", "!", "embedpooler", "!", "embedsink"]

# ---- speech ------------------------------------------------------------------------------------

SPEECH = ('The weather today is sunny and warm. <break time="1500ms"/> '
          'We will go to the park tomorrow. <break time="1500ms"/> '
          'Please bring some water and a hat.')
SPOKEN_WORDS = {"weather", "today", "sunny", "warm", "park", "tomorrow", "water", "hat", "bring"}


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory):
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng is not installed (tools/setup.sh installs it)")
    if not have_element("pocketsphinx"):
        pytest.skip("the pocketsphinx GStreamer element is not installed "
                    "(gstreamer1.0-pocketsphinx, pocketsphinx-en-us; tools/setup.sh)")
    wav = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "130", "-m", "-w", str(wav), SPEECH],
                   check=True, capture_output=True)
    return wav


def speech_pipeline(wav, out, *, paced=False, chunker=()):
    pace = ["!", "identity", "sync=true"] if paced else []
    return launch("filesrc", f"location={wav}", "!", "wavparse", *pace, "!", "audioconvert", "!",
                  "audioresample", "!", "pocketsphinx", "!", "textchunker", *chunker, *EMBED,
                  f"location={out}")


@pytest.fixture(scope="module")
def speech_rows(speech_wav, tmp_path_factory):
    out = tmp_path_factory.mktemp("speech-out") / "speech.jsonl"
    speech_pipeline(speech_wav, out)
    return read_jsonl(out)


def test_speech_to_embeddings(speech_rows, speech_wav):
    """Recognised speech comes out as embeddings: non-empty text, 384 dims, norm 1."""
    rows = speech_rows
    assert rows, "no embedding for the recognised speech"
    text = "".join(r["text"] for r in rows)
    assert text.strip(), "pocketsphinx recognised nothing"
    for i, r in enumerate(rows):
        assert r["doc"] == str(speech_wav)      # the URI query answered by filesrc
        assert r["index"] == i
        assert r["text"].strip()
        check_embedding(r)
        # pocketsphinx's text has no timestamps, so neither have the chunks
        assert "pts" not in r and "duration" not in r
    assert rows[0]["start"] == 0
    for a, b in zip(rows, rows[1:]):
        assert b["start"] == a["end"]
    # the recogniser is far from perfect on synthetic speech, but some words survive
    words = set(text.lower().replace("'", " ").split())
    assert words & SPOKEN_WORDS, f"none of the spoken words in {text!r}"


def test_speech_live_flushes_each_utterance(speech_wav, speech_rows, tmp_path):
    """Paced in real time by identity sync=true (which answers the latency query as live, as a
    capture source would), text arrives one utterance every few seconds. With the default
    max-latency (-1: 1000 ms for live upstream) each utterance goes out about a second after it
    is recognised instead of waiting for a 256-token chunk (offline, the whole short transcript
    is one chunk). Same text, same tiling."""
    out = tmp_path / "live.jsonl"
    speech_pipeline(speech_wav, out, paced=True)
    rows = read_jsonl(out)
    assert len(speech_rows) == 1, "offline the short transcript should fit one chunk"
    assert len(rows) >= 2, f"max-latency did not cut the utterances apart: {rows}"
    assert "".join(r["text"] for r in rows) == speech_rows[0]["text"]
    for i, r in enumerate(rows):
        assert r["index"] == i
        assert r["text"].endswith("\n"), "a chunk should hold whole utterances"
        check_embedding(r)
    for a, b in zip(rows, rows[1:]):
        assert b["start"] == a["end"]


# ---- subtitles ---------------------------------------------------------------------------------

# (start, end) in seconds, text (markup as the file has it), plain text after subparse + strip
CUES = [
    (1.0, 2.5, "The museum opens at nine in the morning.", None),
    (3.0, 4.2, "Tickets are sold at the <i>main</i> entrance.", "Tickets are sold at the main "
     "entrance."),
    (5.0, 6.0, "Tom & Jerry show starts\nat half past ten.", None),
    (7.5, 9.0, "Children under twelve enter for free.", None),
    (10.0, 11.0, "Guided tours leave every hour from the hall.", None),
    (12.0, 13.5, "The cafe on the second floor serves lunch.", None),
    (14.0, 15.0, "Photography without flash is allowed.", None),
    (16.0, 18.0, "The last admission is at five in the afternoon.", None),
]


def srt_time(t):
    ms = round(t * 1000)
    return f"{ms // 3600000:02}:{ms // 60000 % 60:02}:{ms // 1000 % 60:02},{ms % 1000:03}"


def write_srt(path):
    lines = []
    for i, (start, end, text, _) in enumerate(CUES, 1):
        lines += [str(i), f"{srt_time(start)} --> {srt_time(end)}", text, ""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_vtt(path):
    lines = ["WEBVTT", ""]
    for start, end, text, _ in CUES:
        lines += [f"{srt_time(start).replace(',', '.')} --> {srt_time(end).replace(',', '.')}",
                  f"<v Guide>{text}</v>" if "\n" not in text else text, ""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def expected_stream():
    """The stripped text stream and each cue's byte range in it."""
    stream, ranges = b"", []
    for start, end, text, plain in CUES:
        t = (plain or text).encode("utf-8") + b"\n"
        ranges.append((len(stream), len(stream) + len(t), start, end))
        stream += t
    return stream, ranges


def check_subtitle_rows(rows):
    stream, ranges = expected_stream()

    def cue_of(offset):
        return next(r for r in ranges if r[0] <= offset < r[1])

    assert len(rows) >= 3, "max-tokens=24 should cut the cues into several chunks"
    multi = 0
    for i, r in enumerate(rows):
        assert r["index"] == i
        assert r["text"].encode("utf-8") == stream[r["start"]:r["end"]]
        assert "<" not in r["text"] and "&amp;" not in r["text"]
        first, last = cue_of(r["start"]), cue_of(r["end"] - 1)
        assert r["pts"] == round(first[2] * SECOND), f"chunk {i}"
        assert r["duration"] == round(last[3] * SECOND) - round(first[2] * SECOND), f"chunk {i}"
        multi += first != last
        check_embedding(r)
    assert multi > 0, "no chunk spans several cues"
    assert rows[0]["start"] == 0 and rows[-1]["end"] == len(stream)
    for a, b in zip(rows, rows[1:]):
        assert b["start"] == a["end"]
    assert any("Tom & Jerry" in r["text"] for r in rows)


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_keep_cue_times(fmt, tmp_path):
    sub = tmp_path / f"talk.{fmt}"
    (write_srt if fmt == "srt" else write_vtt)(sub)
    out = tmp_path / "subs.jsonl"
    launch("filesrc", f"location={sub}", "!", "subparse", "!", "textchunker", "max-tokens=24",
           *EMBED, f"location={out}")
    rows = read_jsonl(out)
    check_subtitle_rows(rows)
    # the first chunk starts with the first cue
    assert rows[0]["pts"] == SECOND
