"""The answer to an entrusted bid said nobody could read it until the auction closed,
but the keeper reveals it as the reveal window opens, and from then on it is in the chain's logs
for everyone. The answer now says when the bid becomes public, and who reads it before."""

from market_script import entrust_body


def test_entrusted_bid_is_said_to_become_public_when_the_reveal_window_opens(script, client):
    wind = script.join("wind")
    delivery_period = script.next_auction()

    answer = client.post("/api/entrust", json=entrust_body(script, wind, delivery_period)).get_json()

    reveal_opens_at = script.schedule.reveal_opens(delivery_period)
    assert (answer.get("public_from"), "until the auction closes" in answer["secrecy"]) == (reveal_opens_at, False)
