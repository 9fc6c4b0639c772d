"""The error envelope as it appears in the OpenAPI document."""
import marshmallow as ma


class ErrorDetailSchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "stable machine-readable code, e.g. validation_error"})
    message = ma.fields.String(metadata={"description": "message for people, in Chinese"})
    field_errors = ma.fields.Dict(data_key="fields", metadata={"description": "field name -> list of messages"})


class ErrorEnvelopeSchema(ma.Schema):
    error = ma.fields.Nested(ErrorDetailSchema)
