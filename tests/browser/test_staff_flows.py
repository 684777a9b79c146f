"""Staff flows in a real browser: what a person at the clinic clicks through, page by page."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from browser.conftest import PASSWORD, log_in


def test_log_in_and_see_the_landing_page(site, page, snap):
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()
    snap(page, "login-form")

    page.get_by_label("Email").fill(site.staff["admin"])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("status")).to_have_text("Email or password is wrong.")
    snap(page, "wrong-password")

    page.get_by_label("Email").fill(site.staff["admin"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_text(f"{site.staff['admin']} (admin)")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    snap(page, "landing")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login"))


def test_log_in_helper_lands_on_the_first_page_for_the_role(site, page, snap):
    log_in(page, site.staff["frontdesk"])
    expect(page.get_by_text(f"{site.staff['frontdesk']} (frontdesk)")).to_be_visible()
    snap(page, "frontdesk-landing")
