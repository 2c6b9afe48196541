"""Forms the filter used to let through (quoted local parts, `-at-`/`_at_`, escaped dots, `@localhost`, keyword-less
provider tokens, trunk-prefixed national phones, phones with percent-encoded spaces, '#' for '@', German and other
languages' spelled '@' and dots, fully spaced addresses, credentials in key/value attribute pairs, Shopify,
DigitalOcean and Mailchimp tokens, SAS signatures), each beside the look-alikes that must stay as they are."""

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


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('<a href="tel:+1%20415%20555%202671">call</a>', '<a href="tel:<PHONE>">call</a>'),
        ("https://x.com/?to=+44%2020%207946%200958&x=1", "https://x.com/?to=<PHONE>&x=1"),
        ("https://x.com/?to=+44%252020%25207946%25200958", "https://x.com/?to=<PHONE>"),  # encoded twice
        ("TEL:+49%2030%2090182736", "TEL:<PHONE>"),
        ("<a href='tel:030%2090182736'>", "<a href='tel:<PHONE>'>"),  # a national number after the tel: scheme
    ],
)
def test_a_phone_with_percent_encoded_spaces_is_found(text: str, want: str) -> None:
    assert redact(text) == want
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "?q=+1%20and%202",  # no number after the first space
        "?size=+12%20px&x=5+3%20y",
        "tel:+1%20000%20000%200000",  # a filler
        "tel:12%2034",  # too short
        "?q=C%2B%2B%2011",
    ],
)
def test_look_alikes_of_phones_with_encoded_spaces_stay(text: str) -> None:
    assert redact(text) == text
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("邮箱：zhang.wei#example.cn", "邮箱：<EMAIL>"),
        ("联系邮箱zhang.wei#example.cn，谢谢", "联系邮箱<EMAIL>，谢谢"),
        ("Email: zhang.wei#example.cn", "Email: <EMAIL>"),
        ("E-mail：li_na#mail.example.com.cn", "E-mail：<EMAIL>"),
        ("zhang.wei#example.cn（请把#换成@）", "<EMAIL>（请把#换成@）"),
        ("Kontakt: hans.mueller#example.de", "Kontakt: <EMAIL>"),
        ("邮箱：zhang.wei＃example.cn", "邮箱：<EMAIL>"),  # the full-width '#'
        ("email zhang.wei★example.cn (把★换成@)", "email <EMAIL> (把★换成@)"),  # a star for the '@'
        ("联系：li☆mail.example.com", "联系：<EMAIL>"),
    ],
)
def test_an_address_with_a_hash_for_its_at_sign_is_found(text: str, want: str) -> None:
    assert redact(text) == want
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "see page.html#section.top",
        "call obj#method.name here",
        "fixed in issue#123.",
        "zhang.wei#example.cn",  # no mail word nor note near it
        "Email us; the docs are at https://x.org/docs/os.html#os.path",
        "Email: see README.md#install.com",  # a file's anchor
        "Email: a#b.com",  # a one-letter local part
        "E-mail: v2.1#release.com",  # a version
        "★★★ best.site.com ★★★",
        "Rating: 5★hotel.com",
    ],
)
def test_hashes_in_code_and_urls_are_no_address(text: str) -> None:
    assert redact(text) == text
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "Mail: jane(ät)example(punkt)de",
        "jane [at] example [punkt] de",
        "jane (ÄT) example (PUNKT) de",
        "jane [ät] mail.example.de",
        "juan [at] ejemplo [punto] es",
        "jean (at) exemple (point) fr",
        "jan [at] voorbeeld [punt] nl",
        "E-Mail: max.mustermann(a)beispiel.de",  # `(a)` glued between the names
        "max(A)example.de",
    ],
)
def test_german_and_other_languages_spelled_at_and_dot_are_found(text: str) -> None:
    assert [kind for _, kind in _found(text)] == ["EMAIL"]
    assert "example" not in redact(text) and "ejemplo" not in redact(text) and "voorbeeld" not in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "Die Qualität) ist gut (punkt)",
        "sieh die Universität (Punkt) de",
        "x (ät) y",
        "Punkt (at) Stelle",
        "Antwort (a) beispiel.de ist richtig",  # `(a)` as a list's label, not glued
        "see (a) python.org, (b) numpy.org",
        "np.empty_like(a)\narray.shape",
        "Dagger(A)xDagger(B)",
    ],
)
def test_look_alikes_of_the_german_spellings_stay(text: str) -> None:
    assert redact(text) == text
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Mail jane . doe @ example . com today", "Mail <EMAIL> today"),
        ("jane . doe @ example . com. Then more", "<EMAIL>. Then more"),
        ("jane @ mail . example . org", "<EMAIL>"),
        ("jane.doe  @  example  .  com", "<EMAIL>"),
        ("联系 zhang . wei @ example . cn", "联系 <EMAIL>"),
        ("email: jane @ example dot com", "email: <EMAIL>"),  # a spelled dot after a spaced '@'
        ("jane dot doe @ mail DOT example DOT org", "<EMAIL>"),
    ],
)
def test_a_fully_spaced_address_is_found(text: str, want: str) -> None:
    assert redact(text) == want
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("x . y @ w . weight", "x . y @ w . weight"),  # code: no mail domain's ending
        ("a . b @ c . py", "a . b @ c . py"),
        ("Thanks . b @ example.com", "Thanks . b @ example.com"),  # one letter before the '@'
        ("Thanks . bob @ example.com", "Thanks . <EMAIL>"),  # spaced dots in the name alone are prose
        ("v1 . 2 @ example . com", "v1 . 2 @ example . com"),
        ("x @ w dot weight", "x @ w dot weight"),
        ("y = A @ B dot T", "y = A @ B dot T"),
        ("jane @ example dotcom", "jane @ example dotcom"),
    ],
)
def test_spaced_dots_without_an_address_stay(text: str, want: str) -> None:
    assert redact(text) == want
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('<add key="ApiKey" value="Xk9pLw2rTz7Qm4"/>', "Xk9pLw2rTz7Qm4"),
        ('<add key="Stripe:SecretKey" value="Xk9pLw2rTz7Qm4" />', "Xk9pLw2rTz7Qm4"),
        ('<add name="DbPassword" value="Xk9pLw2rTz7Qm4"/>', "Xk9pLw2rTz7Qm4"),
        ('{"name": "API_TOKEN", "value": "Xk9pLw2rTz7Qm4"}', "Xk9pLw2rTz7Qm4"),
        ('{"Key": "Password", "Value": "summer-2024"}', "summer-2024"),
        ("env:\n  - name: DB_PASSWORD\n    value: Xk9pLw2rTz7Qm4", "Xk9pLw2rTz7Qm4"),
        ("the token value: Xk9pLw2rTz7Qm4", "Xk9pLw2rTz7Qm4"),
    ],
)
def test_a_credential_in_a_key_value_attribute_pair_is_found(text: str, secret: str) -> None:
    assert _found(text) == [(secret, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        '<add key="Theme" value="Xk9pLw2rTz7Qm4"/>',  # the name is no credential's
        '<add key="TokenLifetime" value="3600"/>',
        '<add key="ApiKeyHeader" value="X-Api-Key"/>',
        '<add key="webpages:Version" value="3.0.0.0"/>',
        "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef: {name: db}",
        "key values: ['a', 'b']",
    ],
)
def test_key_value_pairs_without_a_credential_stay(text: str) -> None:
    assert [kind for _, kind in _found(text)].count("SECRET") == 0


_HEX32 = "8f3a9c1e5b7d2f4a6c8e0b1d3f5a7c9e"
_HEX64 = _HEX32 + "1b3d5f7a9c2e4f6a8b0d1e3f5a7b9c2d"
SHOPIFY_DO_MAILCHIMP = [
    "shpat_" + _HEX32,  # Shopify access token
    "shpss_" + _HEX32,  # Shopify shared secret
    "shpca_" + _HEX32.upper(),
    "shppa_" + _HEX32,
    "dop_v1_" + _HEX64,  # DigitalOcean personal access token
    "doo_v1_" + _HEX64,
    "dor_v1_" + _HEX64,
    _HEX32 + "-us12",  # Mailchimp API key with its data centre
    _HEX32 + "-us6",
]


@pytest.mark.parametrize("token", SHOPIFY_DO_MAILCHIMP, ids=lambda t: t[:8])
@pytest.mark.parametrize("context", ["{}", "see {} here", '"{}"', "key:{}", "中文{}中文"])
def test_shopify_digitalocean_and_mailchimp_tokens_are_found_without_a_keyword(token: str, context: str) -> None:
    text = context.format(token)
    assert _found(text) == [(token, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        "shpat_" + "0" * 32,  # fillers and examples, not generated keys
        "shpat_" + "deadbeef" * 4,
        "shpss_0123456789abcdef0123456789abcdef",
        "dop_v1_" + "a" * 64,
        "dop_v1_" + "0123456789abcdef" * 4,
        "0123456789abcdef0123456789abcdef-us12",
        "xshpat_" + _HEX32,  # glued to a word
        "shpat_" + _HEX32 + "0",  # too long
        "shpxx_" + _HEX32,
        "dop_v2_" + _HEX64,
        _HEX32 + "-user",
        _HEX32 + "-us123",
        "x" + _HEX32 + "-us1",
    ],
)
def test_look_alikes_of_shopify_digitalocean_and_mailchimp_tokens_stay(text: str) -> None:
    assert _found(text) == []


_SAS_SIGNATURE = "Xk9pLw2rTz7Qm4aB3dE5fG7hJ9kL1mN3pQ5rS7t%2B%2F%3D"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        # an Azure shared access signature: the URL's `sig` grants the access by itself
        (f"https://acct.blob.core.windows.net/c/b.txt?sv=2020-08-04&sp=r&se=2030-01-01&sig={_SAS_SIGNATURE}", None),
        (f"?sig={_SAS_SIGNATURE}&x=1", None),
        # GitHub's `Authorization: token <…>` scheme before a credential without a provider prefix
        ('curl -H "Authorization: token 3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"', "3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"),
    ],
)
def test_a_sas_signature_and_a_token_after_the_token_scheme_are_found(text: str, secret: str | None) -> None:
    assert _found(text) == [(secret or _SAS_SIGNATURE, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        "?sig=" + "a" * 30,  # no digit, one case: a filler
        "?sig=<signature>&sv=2020",
        "&sig=abcdefghijklmnopqrstuvwxyz0123",
        "design=Xk9pLw2rTz7Qm4aB3dE5fG7hJ9",  # `sig=` inside a word, not a query parameter
        "auth: token\nnext_line = 1",
    ],
)
def test_look_alikes_of_sas_signatures_and_token_schemes_stay(text: str) -> None:
    assert [kind for _, kind in _found(text)].count("SECRET") == 0
