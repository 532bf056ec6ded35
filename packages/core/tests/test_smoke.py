async def test_smoke(harness) -> None:
    user = await harness.register()
    tokens = await harness.login()
    me = await harness.client.get("/auth/me", headers=harness.bearer(tokens))
    print(user, tokens, me.json())
    assert me.status_code == 200
