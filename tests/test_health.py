from tests.conftest import Client


async def test_health_checks_the_database(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_every_response_carries_a_strict_content_security_policy(client: Client) -> None:
    for path in ("/", "/login", "/no-such-page", "/health"):
        response = await client.get(path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_unknown_page_is_a_friendly_404_and_unknown_api_path_is_problem_json(client: Client) -> None:
    page = await client.get("/no-such-page")
    assert page.status_code == 404
    assert "Page not found" in page.text
    api = await client.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/problem+json")


async def test_openapi_schema_describes_the_api(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/sites" in paths and "/api/v1/cameras/{camera_id}" in paths and "/api/v1/me/export" in paths
    # The device API is documented for device authors too.
    for path in ("/device/v1/device_authorization", "/device/v1/token", "/device/v1/heartbeat", "/device/v1/desired"):
        assert path in paths, path
    assert "204" in paths["/device/v1/desired"]["get"]["responses"]


async def test_health_is_503_when_the_database_is_unreachable(settings, db) -> None:
    from dataclasses import replace

    from backend.app import create_app

    app = create_app(replace(settings, database_url="postgresql+asyncpg://nobody@127.0.0.1:9/nothing"))
    async with app.lifespan(), Client(app) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}


async def test_health_is_503_when_the_sqlite_file_is_not_a_database(settings, tmp_path) -> None:
    """SQLite's check reads the file's header: SELECT 1 alone would not even open it."""
    from dataclasses import replace

    from backend.app import create_app

    garbage = tmp_path / "not-a-database.db"
    garbage.write_bytes(b"this is not an SQLite file, whatever its name says" * 100)
    app = create_app(replace(settings, database_url=f"sqlite+aiosqlite:///{garbage}"))
    async with app.lifespan(), Client(app) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}
