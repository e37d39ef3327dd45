"""The one data converter for every client and worker: pydantic models as payloads."""

from temporalio.contrib.pydantic import pydantic_data_converter

DATA_CONVERTER = pydantic_data_converter
