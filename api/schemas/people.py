"""Customers and service agents."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas import examples as ex_
from api.schemas.common import ex


class ContactPublic(BaseModel):
    model_config = ex(ex_.CONTACT)
    id: int
    channel: str
    url: str = Field(description="Apprise URL with any credentials removed.")
    preference: int = Field(description="0 is tried first.")
    enabled: bool


class CustomerPublic(BaseModel):
    model_config = ex(ex_.CUSTOMER)
    id: str
    name: str
    locale: str
    timezone: str
    tier: str = Field(description="standard or premium.")
    opted_out: bool
    contacts: list[ContactPublic]


class CustomersPublic(BaseModel):
    model_config = ex(ex_.listing(ex_.CUSTOMER))
    data: list[CustomerPublic]
    count: int


class AgentPublic(BaseModel):
    model_config = ex(ex_.AGENT)
    id: int
    name: str
    email: str
    product_lines: list[str]
    skills: list[str]
    languages: list[str]
    capacity: int = Field(description="Open cases the agent can hold.")
    active: bool
    open_cases: int
    tier: int = Field(default=1, description="Support level: 1 first line .. 3 expert.")
    teams: list[str] = Field(default_factory=list)


class AgentsPublic(BaseModel):
    model_config = ex(ex_.listing(ex_.AGENT))
    data: list[AgentPublic]
    count: int
