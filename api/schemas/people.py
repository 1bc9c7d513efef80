"""Customers and service agents."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import ex


class ContactPublic(BaseModel):
    id: int
    channel: str
    url: str = Field(description="Apprise URL with any credentials removed.")
    preference: int
    enabled: bool


class CustomerPublic(BaseModel):
    model_config = ex(
        {
            "id": "c-0001",
            "name": "Yamada Taro",
            "locale": "ja",
            "timezone": "Asia/Tokyo",
            "tier": "standard",
            "opted_out": False,
            "contacts": [
                {
                    "id": 1,
                    "channel": "email",
                    "preference": 0,
                    "url": "mailto://yamada@example.com",
                    "enabled": True,
                }
            ],
        }
    )
    id: str
    name: str
    locale: str
    timezone: str
    tier: str
    opted_out: bool
    contacts: list[ContactPublic]


class CustomersPublic(BaseModel):
    data: list[CustomerPublic]
    count: int


class AgentPublic(BaseModel):
    model_config = ex(
        {
            "id": 2,
            "name": "Sato",
            "email": "sato@example.com",
            "product_lines": ["air-conditioning"],
            "skills": ["aircon-maintenance"],
            "languages": ["ja", "en"],
            "capacity": 5,
            "active": True,
            "open_cases": 2,
        }
    )
    id: int
    name: str
    email: str
    product_lines: list[str]
    skills: list[str]
    languages: list[str]
    capacity: int
    active: bool
    open_cases: int


class AgentsPublic(BaseModel):
    data: list[AgentPublic]
    count: int
