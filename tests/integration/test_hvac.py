"""The provider flows driven by hvac (Debian python3-hvac), unmodified."""
import hvac
import pytest
from hvac import exceptions

from conftest import secret


@pytest.fixture
def client(stack):
    return hvac.Client(url=stack.url, token=stack.token)


def test_hvac_flow(client, name):
    assert client.is_authenticated()
    client.write("keymgmt/kms/" + name, provider="awskms", key_collection="us-west-2",
                 credentials={"access_key": secret(), "secret_key": secret()})
    got = client.read("keymgmt/kms/" + name)
    assert got["data"] == {"provider": "awskms", "key_collection": "us-west-2"}
    listed = client.list("keymgmt/kms")
    assert name in listed["data"]["keys"]
    client.delete("keymgmt/kms/" + name)
    assert client.read("keymgmt/kms/" + name) is None


def test_hvac_strict_http_list(stack, name):
    # strict_http: hvac sends GET ?list=true instead of LIST
    c = hvac.Client(url=stack.url, token=stack.token, strict_http=True)
    c.write("keymgmt/kms/" + name, provider="awskms", key_collection="us-west-2")
    assert name in c.list("keymgmt/kms")["data"]["keys"]


def test_hvac_exceptions(stack, client, name):
    with pytest.raises(exceptions.InvalidRequest) as e:
        client.write("keymgmt/kms/" + name, provider="awskms", key_collection="nowhere")
    assert "key_collection" in str(e.value)
    with pytest.raises(exceptions.Forbidden):
        hvac.Client(url=stack.url, token="kmt.bad").read("keymgmt/kms/" + name)
    with pytest.raises(exceptions.InvalidPath):
        client.adapter.get("/v1/keymgmt/kms/" + name)
    with pytest.raises(exceptions.InvalidPath):
        client.adapter.get("/v1/keymgmt/nothing/here")
    with pytest.raises(exceptions.UnexpectedError):
        client.adapter.delete("/v1/keymgmt/kms")


def test_hvac_immutable_update(client, name):
    client.write("keymgmt/kms/" + name, provider="awskms", key_collection="us-west-2")
    with pytest.raises(exceptions.InvalidRequest) as e:
        client.write("keymgmt/kms/" + name, key_collection="us-west-1")
    assert "key_collection" in str(e.value)
    client.write("keymgmt/kms/" + name, credentials=["access_key=" + secret(),
                                                     "secret_key=" + secret()])


def test_hvac_health(client):
    assert client.sys.read_health_status(method="GET")["initialized"] is True
