"""Look-alikes found in package documentation (the default corpus) that are no personal data, each beside real data
of the same shape that must still be found.

Every false positive destroys training text, so each class here was seen in `lmforge corpus default`.
"""

from __future__ import annotations

import pytest

from lmforge.pipeline.privacy import Redactor
from tests.pipeline.privacy.test_detectors import _found


@pytest.mark.parametrize(
    "text",
    [
        'create_engine("postgresql+psycopg2://user:password@host/dbname")',
        "driver://user:pass@host/database",
        "mysql+mysqldb://<user>:<password>@<host>[:<port>]/<dbname>",
        "redis://[[username]:[password]]@localhost:6379/0",
        "twilio://AccountSid:AuthToken@FromPhoneNo",
        "parsep://AppID:MasterKey@Hostname",
        "sqlite+pysqlcipher://:passphrase@/file_path",
        "apobj.add('mailto://myuser:mypass@hotmail.com')",
        "matrixs://abcdef:****@synapse.example12.com/%23general",
        "vonage://ApiKey:ApiSecret@FromPhoneNo/ToPhoneNo",
        'fin = open("s3://aws_access_key_id:aws_secret_access_key@bucket/key", ...)',
        'create_engine("oracle+oracledb://scott:tiger@localhost:1521")',  # Oracle's sample schema account
    ],
)
def test_a_password_slot_that_names_the_password_is_left_alone(text: str) -> None:
    # `mypass@hotmail.com` after `://user:` is the password slot and the host, not a mailbox
    assert _found(text) == []


def test_a_mailbox_beside_a_url_with_a_named_password_is_still_found() -> None:
    text = "deltachat://user:pass@smtp.example.com/friend@example.org and mailto://jane:Xk9pLw2rTz7@gmail.com"
    assert _found(text) == [("friend@example.org", "EMAIL"), ("Xk9pLw2rTz7", "SECRET")]


@pytest.mark.parametrize(
    ("text", "password"),
    [
        ("postgresql://app:Zq8rT5mK2p@db.example.com/main", "Zq8rT5mK2p"),
        ("mysql://root:hunter2@10.0.0.5/prod", "hunter2"),  # a weak password is still a password
        ("postgresql://scott:lion@localhost/test", "lion"),
        ("oracle://admin:tiger@db.internal/orcl", "tiger"),  # only scott's is the sample account
        ("redis://:p4ssw0rdXyz9@cache.internal:6379/0", "p4ssw0rdXyz9"),
        ("amqp://guest:Passw0rd@mq.example.com/vhost", "Passw0rd"),
        ("smtp://mailer:supersecret@smtp.example.com", "supersecret"),
        ("https://bob:MyPassword1@example.com/", "MyPassword1"),
        ("s3://access_key:Xk9pLw2rTz7@bucket/key", "Xk9pLw2rTz7"),
        ("vonage://ApiKey:Qw3rTy9uIo0p@FromPhoneNo", "Qw3rTy9uIo0p"),
        ("postgresql://admin:SuperSecret@db.internal/app", "SuperSecret"),  # camel case, but no slot's name
        ("https://ops:MonkeyKey@ci.internal/", "MonkeyKey"),
    ],
)
def test_a_real_password_in_a_url_is_still_found(text: str, password: str) -> None:
    assert "SECRET" in [kind for _, kind in _found(text)]
    assert password not in Redactor().redact(text).text


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Author: J. Nick Koston\nAuthor-email: nick@koston.org\n", "nick@koston.org"),
        ('author_email="matt@explosion.ai",', "matt@explosion.ai"),
        ("AUTHORS: jane.doe@example.org", "jane.doe@example.org"),
    ],
)
def test_an_author_address_is_an_email_not_a_secret(text: str, address: str) -> None:
    # `auth` is a credential word; `author` is not, and the address there is counted as what it is
    assert _found(text) == [(address, "EMAIL")]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer 3f9a8b7c6d5e4f3a2b1c0d9e", "3f9a8b7c6d5e4f3a2b1c0d9e"),
        ("authorization = Xk9#pLw2rTz", "Xk9#pLw2rTz"),
        ("author_token = Xk9#pLw2rTz", "Xk9#pLw2rTz"),
        ("auth_or = Xk9#pLw2rTz", "Xk9#pLw2rTz"),
    ],
)
def test_credentials_after_auth_words_are_still_found(text: str, secret: str) -> None:
    assert _found(text) == [(secret, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        "http://example.com/cb#access_token=abc&state=xyz&token_type=example&expires_in=3600",
        "postgresql://user:pw@host:port/dbname[?key=value&key=value...]",
        "keypresslock : `~matplotlib.widgets.LockDraw`",
        'await store.put(key="user:123", value={"name": "Alice"}, ttl=3600)',
        'assert_task_scheduled(docket, "my_task", key="task-123")',
        'cache.get(key="session:123", collection="sessions")',
    ],
)
def test_query_parameters_and_cross_references_after_a_key_word_are_left_alone(text: str) -> None:
    assert [kind for _, kind in _found(text)].count("SECRET") == 0


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        # one random parameter keeps the whole query redacted, as before: a credential may hide in any of them
        ("https://api.example.com/v1?access_token=Xk9pLw2rTz7&state=abc", "Xk9pLw2rTz7&state=abc"),
        ("https://api.example.com/v1?access_token=abc&secret=Xk9pLw2rTz7", "abc&secret=Xk9pLw2rTz7"),
        ("https://api.example.com/v1?access_token=Xk9p&Lw2rTz7Qm", "Xk9p&Lw2rTz7Qm"),  # no `name=` after the '&'
        ("password = Xk9#pLw2&rTz", "Xk9#pLw2&rTz"),
        ('api_key = "user:123456"', "user:123456"),  # only a bare `key` names a lookup key
        ('password = "summer-2024"', "summer-2024"),
        ('key = "Xk9pLw2rTz7"', "Xk9pLw2rTz7"),
    ],
)
def test_a_credential_in_a_query_string_is_still_found(text: str, secret: str) -> None:
    assert _found(text) == [(secret, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        'client=("1.2.3.4", 123)',
        "with open('/proc/version_signature', host='1.2.3.4') as conn:",
        "inet_aton() -- convert IP addr string (123.45.67.89) to 32-bit packed format",
        "ping 12.34.56.78 or 4.3.2.1",
    ],
)
def test_a_counting_dotted_quad_is_a_placeholder_not_an_ip_address(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "81.169.207.33", "93.186.135.91", "1.2.3.5", "12.34.56.79"])
def test_other_public_ip_addresses_are_still_found(address: str) -> None:
    assert _found(f"raddr=addr(ip='{address}', port=80)") == [(address, "IPV4")]


@pytest.mark.parametrize(
    "text",
    [
        ">>> ibin(n, bits, str=True)\n'0001111011'",
        ">>> minlex('11010011000', directed=True)\n'00011010011'",
        "between [542964969, 542964978], 6, '(0101110110)')",
        "mask 0110 1101 0101",
    ],
)
def test_a_binary_digit_string_is_no_phone(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    "phone", ["0113 496 0000", "0118 496 0123", "0049 30 12345678", "0171 4829361", "01 42 68 53 00"]
)
def test_national_numbers_with_many_zeros_and_ones_are_still_phones(phone: str) -> None:
    assert _found(f"Tel. {phone} bitte.") == [(phone, "PHONE")]


@pytest.mark.parametrize(
    "text",
    [
        "git clone git@github.com:huggingface/datatrove.git && cd datatrove",
        "1. A fully qualified url: ssh://git@example.com/foo/bar.git",
        "3. SCP shorthand for form 1: git@example.com:foo/bar.git",
        "[![Slack](https://img.shields.io/badge/slack-@mlflow--users-CF0E5B.svg?logo=slack)]",
    ],
)
def test_a_git_remote_and_a_badge_image_are_no_email_addresses(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Questions: git@kernel-hackers.org.", "git@kernel-hackers.org"),
        ("Maintainer: gitte@example.com:", "gitte@example.com"),
        ("mail jane.git@example.com/today", "jane.git@example.com"),
        ("see image jane@design.svgshop.com", "jane@design.svgshop.com"),
        ("attached: jane@example.org.png", "jane@example.org"),  # an address in a file name
    ],
)
def test_addresses_next_to_those_look_alikes_are_still_found(text: str, address: str) -> None:
    assert _found(text) == [(address, "EMAIL")]


@pytest.mark.parametrize(
    "text",
    [
        "[(445, 9), (17625560, 356454), (698095554475, 14118073569)]",  # sympy's diophantine docs
        "(698095554475, 14118073569)",
        "(14118073569, 698095554475)",
        "[3, 13912345678, -7]",
        ">>> divmod(x, y)\n(15482871808, 1)",
    ],
)
def test_a_big_integer_in_a_tuple_of_integers_is_no_phone(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Call (415) 555-2671 today.", "(415) 555-2671"),
        ("Call +1 415 555 2671 today.", "+1 415 555 2671"),
        ("Tel: 4155552671", "4155552671"),
        ("联系人：王女士，电话：13800138000", "13800138000"),
        ("Li Wei (13912345678)", "13912345678"),
        ("phones = [13912345678, 5]", "13912345678"),
        ("电话：(13912345678, 13812345678)", "13912345678"),
        ("call 13912345678, 13812345678 or 5", "13912345678"),
    ],
)
def test_phones_beside_those_tuples_are_still_found(text: str, phone: str) -> None:
    assert (phone, "PHONE") in _found(text)


APPRISE_TEMPLATES = (
    "{schema}://{corpid}:{corpsecret}@{agentid}",
    "{schema}://{password}:{user}@{host}/{targets}/?{params}",
    "{schema}://{public_key}:{seed}@{host}{port}/{rooms}?{params}",
    "{schema}://{template}:{app}@{apikey}/{targets}",
    "{schema}://{user}:{apikey}@{host}:{port}",
    "{schema}://{user}:{pw}@{source}/{targets}?{params}",
    "{schema}://{token}@{host}",
    "mailto://{user}:{password}@{host}",
    "postgresql://${DB_USER}:${DB_PASSWORD}@db/app",
    "postgresql://$DB_USER:$DB_PASSWORD@db/app",
    "redis://:{{ redis_password }}@cache",
    "amqp://%(user)s:%(password)s@%(host)s/",
)


@pytest.mark.parametrize("text", APPRISE_TEMPLATES)
def test_a_url_template_with_placeholder_slots_is_left_alone(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "| misskey:// or misskeys://| (TCP) 80 or 443  | misskey://access_token@hostname",
        "sessions://public_key:seed@hostname/room",
        "twist://password:login/#channel",
        "mailto://mySendingUsername:mySendingPassword@example.com",
        "“urn:ietf:params:oauth:token-type:jwt”",
        "subject_token_type: urn:ietf:params:oauth:token-type:access_token",
        "urn:ietf:params:aws:token-type:aws4_request",
        "URN:IETF:PARAMS:OAUTH:TOKEN-TYPE:ID_TOKEN",
    ],
)
def test_url_schemes_and_urns_that_hold_a_key_word_are_no_secret(text: str) -> None:
    assert [kind for _, kind in _found(text)].count("SECRET") == 0


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("https://user:hunter2@host", "hunter2"),
        ("https://{user}:hunter2@host", "hunter2"),
        ("https://public_key:Xk9pLw2rTz7@host", "Xk9pLw2rTz7"),
        ("https://x-access-token:Qw3rTy9uIo0pAs@github.com/org/repo", "Qw3rTy9uIo0pAs"),
        ("AWS_ACCESS_KEY_ID=AKIAQ7CANARY4F3A9XYZ", "AKIAQ7CANARY4F3A9XYZ"),
        ("token: ghp_C4n4ry7f3a9Xq2Lm8Rt5Vb1Nz6Kd0Wy3Hj9P", "ghp_C4n4ry7f3a9Xq2Lm8Rt5Vb1Nz6Kd0Wy3Hj9P"),
        (
            "assertion=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        ),
        ("urn:x:y then token: Xk9#pLw2rTz", "Xk9#pLw2rTz"),
        ("monkey: Xk9#pLw2rTz", "Xk9#pLw2rTz"),
    ],
)
def test_real_credentials_beside_templates_and_urns_are_still_found(text: str, secret: str) -> None:
    assert (secret, "SECRET") in _found(text)


@pytest.mark.parametrize(
    "text",
    [
        "<Actor: Counter, key=Counter-1234abcd>",  # distributed's docs: a task key, a name and a hash
        "<Future: status: finished, key: add-8f6e709446674bad78ea8aeecfee188e>",
        'For example: {"api_key": "sk-...xyz1234"}',  # a key shown masked
        'api_key = "AKIA…MPLE"',
        "twist://password:user@example.com",
        'GitLab PAT: "https://oauth2:my-token@gitlab.com/org/repo.git"',
        "mobilemessage://APIUSER:APIPASS@SENDER/ToPhoneNo",
    ],
)
def test_task_keys_masked_keys_and_more_named_slots_are_no_secret(text: str) -> None:
    assert [kind for _, kind in _found(text)].count("SECRET") == 0


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('key = "Xk9pLw2rTz7"', "Xk9pLw2rTz7"),
        ("key=deadbeef-Xk9pLw2rTz7", "deadbeef-Xk9pLw2rTz7"),
        ('api_key = "Counter-1234abcd"', "Counter-1234abcd"),  # only a bare `key` names a task's key
        ("password: Xk9#pLw2rTz...", "Xk9#pLw2rTz"),  # an ellipsis after the value ends the sentence
        ("https://oauth2:glpat-xY1z2A3b4C5d6E7f8G9h@gitlab.com/org/repo.git", "glpat-xY1z2A3b4C5d6E7f8G9h"),
    ],
)
def test_keys_beside_those_look_alikes_are_still_found(text: str, secret: str) -> None:
    assert (secret, "SECRET") in _found(text)


@pytest.mark.parametrize(
    "text",
    [
        "def load(data: bytes, key: PKCS12PrivateKeyTypes) -> None:",  # cryptography's type hints
        'params = {"Bucket": bucket, "Key": s3_full_path}',
        'OIDC_TOKEN_PATH = "/oidc/v1/token"',
        "y = torch.clamp(x.shape[0], min=1, max=3, dep_token=dep_token0)",
        'credentials = StaticCredentials(token="token123")',
        "private_key: _1_KeyScalar = ...",
        "encryption_properties(footer_key=DIRECT_KEY_128, plaintext_footer=False)",
        "auth=mlflow.server.auth:create_app",
        "key = SSHPublicKeyTypes",
        "token_url = oauth2_redirect_url",
        'AUTH = "AWS4-HMAC-SHA256"',
        "secret_ref = /var/run/secrets/workload-spiffe-credentials/x509.credential-bundle.private-key.pem",
        "token = nyc-taxi/2015/yellow_tripdata_2015-01.csv",
        "APPLICATION_VND_MARLIN_DRM_CONFTOKEN_XML = 'application/vnd.marlin.drm.conftoken+xml'",
        "PASSWORD_HASHER = PG_PASSWORD_SCRAM_SHA_256",
    ],
)
def test_names_and_paths_in_code_after_a_key_word_are_no_secret(text: str) -> None:
    assert [kind for _, kind in _found(text)].count("SECRET") == 0


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('api_key = "3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"', "3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"),  # hex
        ("token: dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ=="),  # base64
        ("key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("access_token=2YotnFZFEjr1zCsicMWpAA", "2YotnFZFEjr1zCsicMWpAA"),  # RFC 6749's example
        ("secret = mD9_qMaKBAuGPi95KzXYqg", "mD9_qMaKBAuGPi95KzXYqg"),
        ("token = h480djs93hd8", "h480djs93hd8"),
        ("token = sdf0o9823sjdfsdf", "sdf0o9823sjdfsdf"),
        ("key = abc123def456", "abc123def456"),  # letters between two numbers: no name
        ("password = password1234", "password1234"),  # a word and a number may be what a person chose
        ('password = "summer-2024"', "summer-2024"),
        ("password = MyPassword2024", "MyPassword2024"),  # words in camel case, but what a person typed
        ('"db_pwd": "CorrectHorse9!"', "CorrectHorse9!"),
        ("API_KEY = E6F4YSY9ZQ", "E6F4YSY9ZQ"),
        ("token = ABCD1234", "ABCD1234"),  # capitals and a number: a code, not a name
    ],
)
def test_random_values_after_key_words_are_still_secrets(text: str, secret: str) -> None:
    assert _found(text) == [(secret, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        "Python 2.7.2.2 was never released",
        "python-2.7.2.2",
        "fixed in versions 2.7.2.1 and 2.7.2.2",
        "supports 2.7.2.2, 3.1.1.6 and 3.2.1",  # a list with a version no address looks like
        "Releases: 2.7.2.2, 3.1.1.6, 7.1.4.34",
        "on 2.7.18, 2.7.2.2 or v3.1.1.6",
        "tested with 2.7.2.2 and later",
        "AIX 7.1.4.34",
        # the stdlib's AIX support and distutils' version docs (`lmforge corpus default`)
        "_aix_bos_rte:\nReturn a Tuple[str, int] e.g., ['7.1.4.34', 1806]\nThe fileset bos.rte represents the current "
        "AIX run-time level. It's VRMF and\nbuilddate reflect the current ABI levels of the runtime",
        "The following are examples of invalid version numbers:\n\n    1\n    2.7.2.2\n    1.3.a4\n    1.3pl1\n",
        "    3.4j\n    1996.07.12\n    3.2.pl0\n    3.1.1.6\n    2g6\n    11g\n",
        'X25519 = ObjectIdentifier("1.3.101.110")',
        "OS-release       : 5.10.102.1-microsoft-standard-WSL2",
        "# using Guile 3.0.5.130-5a1e7.",
        "RFC 5445 3.8.2.4: The VALUE parameter",
        "(sections `3.1.3.6`_, `3.2.2.10`_, `3.3.2.11`_)",
    ],
)
def test_four_part_versions_in_their_context_are_no_ip_address(text: str) -> None:
    assert [kind for _, kind in _found(text)].count("IPV4") == 0


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Accepted password for root from 81.169.207.33 port 22 ssh2", ["81.169.207.33"]),
        ("nameservers 8.8.8.8, 8.8.4.4 and 1.1.1.1", ["8.8.8.8", "8.8.4.4", "1.1.1.1"]),  # addresses alone
        ("2024-01-01,81.169.207.33,0.25,1.2.3", ["81.169.207.33"]),  # a CSV row: the decimals are other fields
        ("from 81.169.207.33, 0.25 ms", ["81.169.207.33"]),
        ("hosts:\n    81.169.207.33\n    93.184.216.34\n", ["81.169.207.33", "93.184.216.34"]),
        ("range 81.169.207.33-81.169.207.40", ["81.169.207.33", "81.169.207.40"]),
        ("upgrade the Python host at 81.169.207.33 first", ["81.169.207.33"]),
        ("raddr=addr(ip='93.186.135.91', port=80), status='ESTABLISHED'", ["93.186.135.91"]),
        ('"X-Forwarded-For": "81.169.207.33, 93.184.216.34"', ["81.169.207.33", "93.184.216.34"]),
        ('hosts = ["81.169.207.33", "93.184.216.34"]', ["81.169.207.33", "93.184.216.34"]),
    ],
)
def test_ip_addresses_in_logs_and_lists_are_still_found(text: str, found: list[str]) -> None:
    assert _found(text) == [(address, "IPV4") for address in found]


@pytest.mark.parametrize(
    "text",
    [
        # prose ` at ` before a dotted name in a text where a bracketed form switches the obfuscated search on
        "# More weird corner cases are tested at test_validation.py (at) least",
        "# Set the flag to graph break at autograd.grad on retry [at] once",
        "opened by the interactive snapshot viewer at pytorch.org/memory_viz (at) will",
        "Expected module at node.target to be an input (at) x",
        # file names, a method called on a matrix product, an escaped line break before a decorator
        "a filename like 'file@1.txt' is literal",
        'sys.stderr.write("    file.zip@member.pkl\\n")',
        "assert_allclose(A, L@D@L.conjugate().T, atol=atol)",
        'res += "\\n@triton.jit\\n"',
    ],
)
def test_code_prose_and_file_names_around_an_at_are_no_address(text: str) -> None:
    assert [kind for _, kind in _found(text)].count("EMAIL") == 0


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("mail thartmann15 at gmail.com (at) once", "thartmann15 at gmail.com"),
        ("signed by chris@nuxref.com-prv.asc", "chris@nuxref.com-prv"),  # the key file's name keeps its address
        ("saved as jane@example.org.txt", "jane@example.org"),
        ("write to jane@example.com (preferred)", "jane@example.com"),
        ('"\\t@" + "x\\j@example.com"', "j@example.com"),  # one letter after a backslash, but no escape before it
    ],
)
def test_addresses_beside_those_look_alikes_are_still_found_too(text: str, address: str) -> None:
    assert (address, "EMAIL") in _found(text)
