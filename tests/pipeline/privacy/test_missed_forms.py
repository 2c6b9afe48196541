"""Forms the filter used to let through (quoted local parts, `-at-`/`_at_`, escaped dots, `@localhost`, keyword-less
provider tokens, trunk-prefixed national phones), each beside the look-alikes that must stay as they are."""

from __future__ import annotations

import pytest

from lmforge.pipeline.privacy import Redactor, scan
from lmforge.pipeline.privacy.scanner import scan_reference
from tests.pipeline.privacy.test_detectors import _found


def redact(text: str) -> str:
    return Redactor().redact(text).text


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ('Write to "john doe"@example.com today.', '"john doe"@example.com'),
        ('Write to "john.doe"@example.com today.', '"john.doe"@example.com'),
        ('say "hi" to "jane q. public"@mail.example.org', '"jane q. public"@mail.example.org'),
        ('{"to": "\\"john doe\\"@example.com"}', '"john doe\\"@example.com'),
    ],
)
def test_an_address_with_a_quoted_local_part_is_found(text: str, address: str) -> None:
    assert _found(text) == [(address, "EMAIL")]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("mail jane[.]doe[at]example[.]org", "mail <EMAIL>"),
        ("mail jane.doe -at- example.org now", "mail <EMAIL> now"),
        ("mail jane -AT- example.org now", "mail <EMAIL> now"),
        ("mail jane_at_example.org now", "mail <EMAIL> now"),
        ("mail jane.doe_at_mail.example.co.uk", "mail <EMAIL>"),
        ("mail jane%2Edoe%40example.com now", "mail <EMAIL> now"),
        ("mail jane%2edoe%40example%2Ecom now", "mail <EMAIL> now"),
        ("mail jane%2Edoe@example%2Ecom now", "mail <EMAIL> now"),
        ("mail jane&#46;doe&#64;example&#46;com now", "mail <EMAIL> now"),
        ("mail jane&#x2E;doe&#x40;example&#x2e;com now", "mail <EMAIL> now"),
        ("mail jane&#46;doe@example&#46;com now", "mail <EMAIL> now"),
    ],
)
def test_obfuscated_and_escaped_addresses_are_found(text: str, want: str) -> None:
    assert redact(text) == want
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "row.created_at_example",
        "created_at_example = 1",
        "ts = obj.created_at_time.isoformat()",
        "x = row.updated_at_utc.date",
        "look-at-me.png",
        "state-of-the-art-at-scale.html",
        "see the numpy.ndarray at numpy.org",
        "the pandas.DataFrame at pandas.pydata.org",
        "50%2E5",
    ],
)
def test_look_alikes_of_the_obfuscated_forms_stay(text: str) -> None:
    assert redact(text) == text
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("jane.doe at example.org", "<EMAIL>"),
        ("> Cc: python-dev at python.org", "> Cc: <EMAIL>"),
        ("write to numpy.dev at example.org", "write to <EMAIL>"),
    ],
)
def test_spelled_addresses_beside_the_numpy_look_alike_are_still_found(text: str, want: str) -> None:
    assert redact(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Mail jane@localhost for access.", "Mail <EMAIL> for access."),
        ("ssh jdoe@localhost", "ssh <EMAIL>"),
        ("psql postgres://jsmith@localhost/app", "psql postgres://<EMAIL>/app"),
    ],
)
def test_a_user_at_localhost_is_found(text: str, want: str) -> None:
    assert redact(text) == want
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "@property\ndef x(self): ...",
        "npm i -D @types/node",
        "import x from '@angular/core'",
        "thanks @jane for the review",
        "postgres://postgres@localhost/mydb",
        "mysql -u root@localhost",
        "DATABASE_URL=postgresql://user@localhost:5432/db",
        "GRANT ALL ON db.* TO 'admin'@'localhost';",
        "pkg@1.2.3 and foo@bar",
        "@localhost",
    ],
)
def test_handles_decorators_scopes_and_generic_accounts_stay(text: str) -> None:
    assert redact(text) == text
    assert scan(text) == scan_reference(text)


PROVIDER_TOKENS = [
    "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH",  # HuggingFace: 34 letters
    "hf_" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWx",
    "npm_" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWxYz",
    "pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAACKlszLCJhYmNkIl0AAAYgAbCdEfGh",
    "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",
    "ghp_C4n4ry7f3a9Xq2Lm8Rt5Vb1Nz6Kd0Wy3Hj9P",
    "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abc",
    "glpat-xY1z2A3b4C5d6E7f8G9h",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "xoxp-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "xoxa-2-123456789012-AbCdEfGhIjKl",
    "AKIAQ7CANARY4F3A9XYZ",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
]


@pytest.mark.parametrize("token", PROVIDER_TOKENS, ids=lambda t: t[:6])
@pytest.mark.parametrize("context", ["{}", "see {} here", '"{}"', "x={}", "中文{}中文"])
def test_provider_tokens_are_found_without_a_keyword(token: str, context: str) -> None:
    text = context.format(token)
    assert _found(text) == [(token, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        "model = 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()",  # `hf_` + 34 letters of camel-case words
        "npm_PackageDependencyResolverForWorkers1",
        "x_hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH",
        "pypi-package-name",
        "SG.short.token",
    ],
)
def test_provider_token_look_alikes_stay(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Tel. 0049 (0)30 12345678 ab 9 Uhr.", "0049 (0)30 12345678"),
        ("Tel. 0049 (0) 30 12345678 ab 9 Uhr.", "0049 (0) 30 12345678"),
        ("Звоните 8 (495) 123-45-67 днём.", "8 (495) 123-45-67"),
        ("call 8(916)1234567 now", "8(916)1234567"),
    ],
)
def test_trunk_prefixed_national_phones_are_found(text: str, phone: str) -> None:
    assert _found(text) == [(phone, "PHONE")]


@pytest.mark.parametrize(
    "text",
    ["Nature 8 (2001) 123-130", "vol. 8 (495) pp. 12-15", "see 8 (1990) 123-45-67", "Table 8 (n = 120) 45-67"],
)
def test_citations_shaped_like_trunk_prefixed_phones_stay(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("https://x.com/?phone=%2B14155550173&a=1", "https://x.com/?phone=<PHONE>&a=1"),
        ("https://x.com/?phone=%2B44%2020%207946%200958", "https://x.com/?phone=<PHONE>"),
        ("https://x.com/?phone=%2B44+20+7946+0958&x", "https://x.com/?phone=<PHONE>&x"),
        ("<a href='tel:%2b493090182736'>", "<a href='tel:<PHONE>'>"),
        ("?email=jane.doe%40example.com&phone=%2B14155550173", "?email=<EMAIL>&phone=<PHONE>"),
        ("?q=a%2Bb&x=5%2B3&v=1%2B2%2B3&n=%2B2147483647", "?q=a%2Bb&x=5%2B3&v=1%2B2%2B3&n=%2B2147483647"),
    ],
)
def test_a_phone_with_a_percent_encoded_plus_in_a_query_string_is_found(text: str, want: str) -> None:
    assert redact(text) == want
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Mail alice @ example.com today.", "Mail <EMAIL> today."),
        ("Mail alice.smith @ example.co.uk today.", "Mail <EMAIL> today."),
        ("Mail alice @example.com today.", "Mail <EMAIL> today."),
        ("Mail alice@ example.com today.", "Mail <EMAIL> today."),
        ("Mail j_doe42  @  mail.example.org, please.", "Mail <EMAIL>, please."),
        ("Kontakt: jürgen.müller @ beispiel.de", "Kontakt: <EMAIL>"),
        ("联系 zhang.wei @ example.cn 谢谢", "联系 <EMAIL> 谢谢"),
    ],
)
def test_an_address_with_spaces_beside_its_at_sign_is_found(text: str, want: str) -> None:
    assert redact(text) == want
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "C = A @ B.T",
        "y = x @ y.T",
        "out = x @ w.weight + b",
        "v = np.ones(3) @ m.data",
        "np.allclose(u2 @ np.diag(s2) @ vT2, A)",
        "Q @ K.transpose(-2, -1)",
        "L @ L.T.conj()",
        "S = M @ M.mT",
        "@ property\ndef x(self): ...",
        "decorate it with @ pytest.mark.parametrize",
        "format @arguments.txt",
        "docs available @ github.com",
        "2 @ 4.99 each",
        "x\n@ app.route('/')",
        "the team @ example.com",
    ],
)
def test_matrix_products_and_decorators_with_spaced_at_signs_stay(text: str) -> None:
    assert redact(text) == text
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("mail jane [@] example.com", "mail <EMAIL>"),
        ("mail jane(@)example.com", "mail <EMAIL>"),
        ("mail jane (@) example (dot) com", "mail <EMAIL>"),
        ("mail jane{@}example.com", "mail <EMAIL>"),
        ("mail bob <@> mail.example.com", "mail <EMAIL>"),
        ("mail bob < @ > mail.example.com", "mail <EMAIL>"),
    ],
)
def test_an_at_sign_in_brackets_is_found(text: str, want: str) -> None:
    assert redact(text) == want
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Email me at jane.doe at gmail dot com", "Email me at <EMAIL>"),
        ("Write me at jane.doe [at] gmail [dot] com", "Write me at <EMAIL>"),
        ("Reach us at info.desk (at) example (dot) org today", "Reach us at <EMAIL> today"),
    ],
)
def test_an_obfuscated_address_after_me_at_is_found_whole(text: str, want: str) -> None:
    # `me at jane.doe` has the obfuscated form's shape too; taking it left the domain behind
    assert redact(text) == want
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize("text", ["x = {@}", "perl -e 'print @]'", "(@) is an operator", "a <@> b"])
def test_bracketed_at_signs_without_an_address_stay(text: str) -> None:
    assert redact(text) == text
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Ligue (11) 98765-4321 hoje.", "(11) 98765-4321"),
        ("Telefone: (21) 2345-6789", "(21) 2345-6789"),
        ("WhatsApp (31)99876-5432", "(31)99876-5432"),
        ("Contato: (48) 3232-1357 ou (48) 99111-2233", "(48) 3232-1357"),
    ],
)
def test_brazilian_phones_with_a_two_digit_area_code_in_parentheses_are_found(text: str, phone: str) -> None:
    assert (phone, "PHONE") in _found(text)
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "Phys. Rev. 45 (12) 1234-1256",  # an issue and its pages
        "Proc. 7 (11) 2019-2021",
        "ISSN (12) 1234-5678",
        "x = f(10) 1234-5678",  # no area code has a 0
        "(1) 2345-6789",
        "(11) 12345-67890",
    ],
)
def test_issue_numbers_and_page_ranges_shaped_like_brazilian_phones_stay(text: str) -> None:
    assert _found(text) == []


_TELEGRAM = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw7"
_DISCORD = "123456789012345678/" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5mN7pQ9rS1tU3vW5xY7zA9b"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f'bot = telegram.Bot("{_TELEGRAM}")', _TELEGRAM),
        (f"https://api.telegram.org/bot{_TELEGRAM}/getMe", _TELEGRAM),
        ("TELEGRAM=110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
        (f"https://discord.com/api/webhooks/{_DISCORD}", _DISCORD),
        (f"url = 'https://discordapp.com/api/webhooks/{_DISCORD}?wait=true'", _DISCORD),
    ],
)
def test_telegram_bot_tokens_and_discord_webhooks_are_found(text: str, secret: str) -> None:
    assert _found(text) == [(secret, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        "20240101:AbstractSingletonProxyFactoryBeanXY",  # a word, not a random token
        "1234567:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw7",  # too short a bot id
        "x123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw7_more",
        "https://discord.com/api/webhooks/{webhook_id}/{webhook_token}",
        "https://example.com/api/webhooks/" + _DISCORD,
    ],
)
def test_look_alikes_of_telegram_and_discord_credentials_stay(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("curl -u jane:Xk9pLw2rTz7 https://api.example.com", "Xk9pLw2rTz7"),
        ("curl -u 'jane:s3cret!' https://api.example.com", "s3cret!"),
        ('curl --user "admin:hunter2" https://x.example.com', "hunter2"),
        ("curl --user=admin:hunter2 https://x.example.com", "hunter2"),
        ("curl -s -u jane:Xk9pLw2rTz7 -X POST https://x", "Xk9pLw2rTz7"),
        ("curl -ujane:Xk9pLw2rTz7 https://x", "Xk9pLw2rTz7"),
    ],
)
def test_a_password_after_a_command_line_user_name_is_found(text: str, secret: str) -> None:
    assert _found(text) == [(secret, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        "curl -u user:password https://api.example.com",
        'curl -u "$USER:$PASSWORD" https://api.example.com',
        "curl -u ${USER}:${TOKEN} https://x",
        "curl -u <user>:<password> https://x",
        "curl -u sk_test_abc: https://api.stripe.com",
        "docker run -u 1000:1000 image",
        "docker run --user www-data:www-data image",
        "docker run --rm -u appuser:appgroup image",
        "podman exec -u postgres:staff db psql",
        'docker run -u "$(id -u):$(id -g)" image',
        "rsync -u host:/srv/data ./data",
        "python -u train.py --config a:b",
        "re-use it: x",
    ],
)
def test_command_line_user_look_alikes_stay(text: str) -> None:
    assert [kind for _, kind in _found(text)].count("SECRET") == 0


@pytest.mark.parametrize(
    "text",
    [
        "qy = q.T @ self.yy",  # scipy's tests: two letters, but no mail domain's ending
        "Works with @live.com, @hotmail.com and @outlook.com accounts",
        "h = x @ self.mu + b",
    ],
)
def test_more_code_and_prose_with_a_spaced_at_sign_stays(text: str) -> None:
    assert redact(text) == text
    assert scan(text) == scan_reference(text)


MORE_PROVIDER_TOKENS = [
    "GOCSPX-" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9v",  # Google OAuth client secret
    "gsk_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5m",  # Groq
    "r8_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5b",  # Replicate
    "pplx-" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3",  # Perplexity
    "whsec_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY",  # Stripe webhook signing secret
]


@pytest.mark.parametrize("token", MORE_PROVIDER_TOKENS, ids=lambda t: t[:6])
@pytest.mark.parametrize("context", ["{}", "see {} here", '"{}"', "x={}", "中文{}中文"])
def test_more_provider_tokens_are_found_without_a_keyword(token: str, context: str) -> None:
    text = context.format(token)
    assert _found(text) == [(token, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        "gsk_" + "ThisIsALongIdentifierNameWrittenInCamelCaseWordsOnly",
        "xgsk_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5m",
        "pplx-short",
        "whsec_" + "x" * 32,
        "GOCSPX-" + "a" * 28,
    ],
)
def test_look_alikes_of_those_tokens_stay(text: str) -> None:
    assert _found(text) == []
