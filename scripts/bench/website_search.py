"""Website search and listing: HTTP latency beside the same SQL on bare asyncpg.

    uv run python scripts/bench/website_search.py --articles 100000

Builds a scratch `atriz_shared` and website database on the configured server (`PG*`, else the
embedded one), loads `--articles` published articles of realistic length with COPY (bodies of
300 to 900 words drawn from a Zipf-distributed vocabulary of 30,000 made-up words, so that some
words are in most articles and most words in few), serves the website with granian (one
worker) and measures, sequentially over one keep-alive connection:

- search (`GET /articles?q=<one word>`) p50 and p99, beside the repository's search function
  on a bare asyncpg connection (the same SQL and row building, no HTTP, no kit): the ratio
  SQL p50 / HTTP p50 (target >= 0.5);
- a two-word search p50 through HTTP (target < 20 ms);
- the newest-published page (`GET /articles`) p50 through HTTP (target < 10 ms).

Rounds interleave the baseline and the measurement (the machine's speed drifts), and each
round's ratio is set against the baselines either side of it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from _support import core_database, scratch_database, serve

from atriz_database.migrations import migrate
from atriz_database.pool import connect
from atriz_website.articles import repository
from atriz_website.db import target

VOCABULARY = 30_000
PAGE = 20
SEARCH_PAGE = 10  # the route's default for a search


def make_vocabulary(rng: random.Random) -> list[str]:
    """Made-up words of two to four syllables, distinct, in a stable order (rank 0 the most
    frequent)."""
    onsets = ["b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "br", "tr", "st"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou"]
    codas = ["", "", "n", "r", "s", "l"]
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        syllables = rng.randint(2, 4)
        word = "".join(
            rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables)
        )
        words[word] = None
    return list(words)


def zipf_weights(n: int) -> list[float]:
    cumulative, total = [], 0.0
    for rank in range(1, n + 1):
        total += 1.0 / rank
        cumulative.append(total)
    return cumulative


def article_rows(count: int, rng: random.Random, words: list[str]) -> list[tuple[object, ...]]:
    weights = zipf_weights(len(words))
    authors = [uuid.uuid4() for _ in range(200)]
    now = datetime.now(UTC)
    rows: list[tuple[object, ...]] = []
    for n in range(count):
        text = rng.choices(words, cum_weights=weights, k=rng.randint(300, 900))
        paragraphs = [" ".join(text[i : i + 80]) + "." for i in range(0, len(text), 80)]
        body = "\n\n".join(paragraphs)
        title = " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(3, 8))).capitalize()
        summary = " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(15, 30)))
        rows.append(
            (
                rng.choice(authors),
                f"a-{n}",
                title,
                summary,
                body,
                f"<p>{body}</p>",
                "en" if n % 10 else "es",
                [f"t{n % 50}"],
                "published",
                now - timedelta(minutes=n),
            )
        )
    return rows


async def load(url: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not a secret
    words = make_vocabulary(rng)
    connection = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        batch = 5_000
        for first in range(0, count, batch):
            rows = article_rows(min(batch, count - first), rng, words)
            rows = [(row[0], f"a-{first}-{row[1]}", *row[2:]) for row in rows]
            await connection.copy_records_to_table(
                "articles",
                records=rows,
                columns=[
                    "author_id", "slug", "title", "summary", "body", "body_html", "language",
                    "tags", "status", "published_at",
                ],
            )  # fmt: skip
        await connection.execute("VACUUM ANALYZE articles")
        print(f"loaded {count:,} articles in {time.perf_counter() - started:.0f} s")
    finally:
        await connection.close()
    return words


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(calls: list[Callable[[], object]]) -> list[float]:
    samples = []
    for call in calls:
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=20_000, help="how many (target 100000)")
    parser.add_argument("--requests", type=int, default=200, help="queries per round and kind")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()

    with core_database() as shared_url, scratch_database("website") as url:
        migrate(target, url, requirement_met=lambda _: True, out=lambda _: None)
        words = asyncio.run(load(url, options.articles, options.seed))
        rng = random.Random(options.seed + 1)  # noqa: S311 - benchmark data, not a secret
        # Words a reader might type: neither the commonest (in most articles) nor the rarest.
        one_word = [rng.choice(words[200:5000]) for _ in range(options.requests)]
        two_words = [
            f"{rng.choice(words[100:3000])} {rng.choice(words[100:3000])}"
            for _ in range(options.requests)
        ]
        env = {
            "WEBSITE_DATABASE_URL": url,
            "WEBSITE_SHARED_DATABASE_URL": shared_url,
            "ATRIZ_ENV": "production",
            "ATRIZ_CURSOR_SECRET": secrets.token_urlsafe(32),
            "WEBSITE_OIDC_CLIENT_SECRET": secrets.token_urlsafe(32),  # sign-in pages, unused
            "ATRIZ_DB_POOL_MIN_SIZE": "2",
        }
        with serve("atriz_website.app:create_app_from_env", workers=1, env=env) as base:
            run(base, url, one_word, two_words, options.rounds)


def run(base: str, url: str, one_word: list[str], two_words: list[str], rounds: int) -> None:
    loop = asyncio.new_event_loop()
    connection = loop.run_until_complete(connect(url))

    def sql(q: str) -> Callable[[], object]:
        return lambda: loop.run_until_complete(
            repository.search_live_articles(
                connection,
                q,
                author=None,
                tag=None,
                after=None,
                fetch=SEARCH_PAGE + 1,
                snippets=SEARCH_PAGE,
            )
        )

    with httpx.Client(base_url=base, timeout=30) as client:

        def http(params: dict[str, str]) -> Callable[[], object]:
            def call() -> None:
                size = SEARCH_PAGE if "q" in params else PAGE
                response = client.get("/articles", params={**params, "limit": str(size)})
                assert response.status_code == 200, response.text

            return call

        timed([http({"q": q}) for q in one_word[:20]] + [sql(q) for q in one_word[:20]])  # warm
        baselines = [timed([sql(q) for q in one_word])]
        searches, pairs, newest, ratios = [], [], [], []
        for _ in range(rounds):
            searches.append(timed([http({"q": q}) for q in one_word]))
            baselines.append(timed([sql(q) for q in one_word]))
            around = (statistics.median(baselines[-2]) + statistics.median(baselines[-1])) / 2
            ratios.append(around / statistics.median(searches[-1]))
            pairs.append(timed([http({"q": q}) for q in two_words]))
            newest.append(timed([http({}) for _ in one_word]))
    loop.run_until_complete(connection.close())
    loop.close()

    def p(samples: list[list[float]], q: float) -> float:
        return statistics.median(percentile(s, q) for s in samples)

    print(f"page size {SEARCH_PAGE} (search), {PAGE} (newest);"
          f" {len(one_word)} queries per round, {rounds} rounds")  # fmt: skip
    print(f"search, one word, HTTP      p50 {p(searches, 0.5):7.2f} ms"
          f"  p99 {p(searches, 0.99):7.2f} ms")  # fmt: skip
    print(f"search, one word, asyncpg   p50 {p(baselines, 0.5):7.2f} ms"
          f"  p99 {p(baselines, 0.99):7.2f} ms  (baseline)")  # fmt: skip
    print(
        f"ratio asyncpg p50 / HTTP p50  {statistics.median(ratios):.2f}"
        f"  (rounds {' '.join(f'{r:.2f}' for r in ratios)}; target >= 0.5)"
    )
    print(f"search, two words, HTTP     p50 {p(pairs, 0.5):7.2f} ms  p99 {p(pairs, 0.99):7.2f} ms"
          "  (target p50 < 20 ms)")  # fmt: skip
    print(f"newest page, HTTP           p50 {p(newest, 0.5):7.2f} ms  p99 {p(newest, 0.99):7.2f} ms"
          "  (target p50 < 10 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
