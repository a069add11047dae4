#!/usr/bin/env python3
"""Create or reset the demo roles and buckets on the local Ceph radosgw.

stack.sh runs this after it has created the users nhi-owner and nhi-service with
radosgw-admin. The script:

- creates the roles nhi-remediation and nhi-workflow-read through the gateway's IAM
  API, as nhi-service, sets each role's trust policy and its one inline policy, and
  deletes any other inline policy (such as per-session denies left by earlier demo
  runs) except the nhi-revoke-* deny policies;
- creates the demo buckets as nhi-owner and resets them to their initial state: no
  public access block, the seeded bucket policy or ACL, and the seeded objects;
- creates the workflow buckets as nhi-owner, private, and resets their objects to
  the files under fixtures/s3/BUCKET;
- checks that nhi-service has no S3 access to the buckets without assuming a role,
  and that a session of nhi-workflow-read can read a workflow bucket.

It prints the ARN and RoleId of both roles as one JSON object on stdout. Settings
come from environment variables, so that no secret key appears in a process listing.

Behaviour of radosgw 16.2 (Ceph Pacific) that this script allows for:
- The IAM API does not decode '+' as a space in form bodies, so a policy document
  with spaces fails with MalformedPolicyDocument. Policies are sent as compact JSON.
- IAM errors come back as S3-style <Error> XML, which boto3 reports with the code
  'Unknown', so this script checks the HTTP status of IAM errors instead.
- PutBucketPolicy and PutObject get 403 while a public access block is set, so the
  block is deleted before the policies, ACLs and objects are restored.
"""

import json
import os
import sys
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

REMEDIATION_POLICY_NAME = "bucket-configuration"
WORKFLOW_POLICY_NAME = "object-read"
REVOCATION_POLICY_PREFIX = "nhi-revoke-"

# The actions that the remediation role may perform on any bucket. radosgw 16.2 checks
# s3:GetBucketPolicy for GetPublicAccessBlock and s3:PutBucketPublicAccessBlock for
# DeletePublicAccessBlock, and no request checks s3:GetBucketPublicAccessBlock. That
# name is kept so that the policy also means the same on AWS.
REMEDIATION_ACTIONS = [
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:GetBucketAcl",
    "s3:PutBucketAcl",
    "s3:GetBucketPublicAccessBlock",
    "s3:PutBucketPublicAccessBlock",
    "s3:GetBucketPolicyStatus",
    "s3:ListBucket",
    "s3:GetObject",
]

# The workflow role may read any bucket. The broker's session policy narrows each session
# to the one bucket that a workflow step declares.
WORKFLOW_ACTIONS = ["s3:GetObject", "s3:ListBucket"]

# Content types of the fixture files, by file name extension.
FIXTURE_CONTENT_TYPES = {".json": "application/json", ".log": "text/plain; charset=utf-8"}

INDEX_HTML = b"<!doctype html><title>Nhi.Serverless demo</title><p>This object is public.</p>\n"
KEEP_TXT = b"This bucket is private and must stay untouched by remediation.\n"


def require_env(name):
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"seed.py: environment variable {name} is missing or empty")
    return value


def compact_json(document):
    return json.dumps(document, separators=(",", ":"))


def http_status(error):
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def make_client(service, access_key_id, secret_access_key, session_token=None):
    return boto3.client(
        service,
        endpoint_url=require_env("NHI_S3_ENDPOINT"),
        region_name=require_env("NHI_AWS_REGION"),
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=session_token,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )


def ensure_role(iam, role_name, trusted_user_arn, policy_name, actions):
    """Create the role or reset its trust policy and inline policies, and return GetRole's Role.

    The role keeps one inline policy, POLICY_NAME, that allows ACTIONS on every bucket,
    and the nhi-revoke-* deny policies.
    """
    trust_policy = compact_json({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": [trusted_user_arn]},
            "Action": ["sts:AssumeRole"],
        }],
    })
    try:
        iam.get_role(RoleName=role_name)
        iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=trust_policy)
    except ClientError as error:
        if http_status(error) != 404:
            raise
        iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust_policy)

    role_policy = compact_json({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": actions,
            "Resource": ["arn:aws:s3:::*"],
        }],
    })
    iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=role_policy)

    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        # A deny policy keeps a revoked session revoked until the session expires, and the broker
        # prunes it after that; deleting it here would make a revoked credential valid again.
        if name != policy_name and not name.startswith(REVOCATION_POLICY_PREFIX):
            iam.delete_role_policy(RoleName=role_name, PolicyName=name)
            print(f"seed.py: deleted inline policy {name} of role {role_name}", file=sys.stderr)

    role = iam.get_role(RoleName=role_name)["Role"]

    # radosgw 16.2 lets a session of this role call sts:AssumeRole on it again, as the trusted user, and it
    # applies neither the session policy nor the role's policies to that call. A handed-out credential could
    # then start a session without the grant's scope, which the grant's revocation does not reach. Denying
    # the role's own sessions (aws:userid "<role id>:<session>") in the trust policy stops that chain.
    iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=compact_json({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": [trusted_user_arn]}, "Action": ["sts:AssumeRole"]},
            {
                "Effect": "Deny",
                "Principal": {"AWS": [trusted_user_arn]},
                "Action": ["sts:AssumeRole"],
                "Condition": {"StringLike": {"aws:userid": [role["RoleId"] + ":*"]}},
            },
        ],
    }))
    return role


def ensure_bucket(s3, bucket):
    """Create BUCKET unless the owner has it, then delete its public access block."""
    # radosgw 16.2 answers CreateBucket on an existing bucket of the same owner with
    # BucketAlreadyExists once the bucket has a public access block, so look first.
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"].get("Code") not in ("404", "NoSuchBucket"):
            raise
        s3.create_bucket(Bucket=bucket)
    # radosgw 16.2 routes DELETE ?publicAccessBlock correctly and keeps the bucket. It
    # returns 200 instead of 204, also when no block is set.
    s3.delete_public_access_block(Bucket=bucket)


def reset_public_policy_bucket(s3, bucket, owner_arn):
    """Reset BUCKET to a private ACL and a bucket policy with a public and an owner-only statement."""
    ensure_bucket(s3, bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicReadObjects",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/*"],
            },
            {
                # Not public: remediation must keep this statement.
                "Sid": "OwnerListBucket",
                "Effect": "Allow",
                "Principal": {"AWS": [owner_arn]},
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=compact_json(policy))
    s3.put_object(Bucket=bucket, Key="index.html", Body=INDEX_HTML, ContentType="text/html")


def reset_public_acl_bucket(s3, bucket):
    """Reset BUCKET to a public-read ACL, no bucket policy and a public-read index.html.

    A public-read bucket ACL lets anyone list the bucket but not read its objects,
    so index.html gets its own public-read ACL to make the exposure readable.
    """
    ensure_bucket(s3, bucket)
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="index.html", Body=INDEX_HTML, ContentType="text/html", ACL="public-read")


def reset_bystander_bucket(s3, bucket):
    ensure_bucket(s3, bucket)
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object(Bucket=bucket, Key="keep.txt", Body=KEEP_TXT, ContentType="text/plain", ACL="private")


def reset_fixture_bucket(s3, bucket, directory):
    """Reset BUCKET to a private bucket that contains exactly the files below DIRECTORY.

    Each file's path relative to DIRECTORY is its key. Objects that are not fixture
    files are deleted, so a workflow that expects a document to be missing finds it
    missing.
    """
    files = {path.relative_to(directory).as_posix(): path for path in sorted(directory.rglob("*")) if path.is_file()}
    if not files:
        raise RuntimeError(f"{directory} contains no fixture files for bucket {bucket}")

    ensure_bucket(s3, bucket)
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    for key, path in files.items():
        content_type = FIXTURE_CONTENT_TYPES.get(path.suffix)
        if content_type is None:
            raise RuntimeError(f"{path} has an extension without a content type; use one of {', '.join(FIXTURE_CONTENT_TYPES)}")
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type, ACL="private")

    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if item["Key"] not in files:
                s3.delete_object(Bucket=bucket, Key=item["Key"])
                print(f"seed.py: deleted {bucket}/{item['Key']}, which is not a fixture file", file=sys.stderr)


def check_role_can_read(sts, role_arn, bucket):
    """Raise unless a session of ROLE_ARN can list BUCKET, which nhi-owner owns."""
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="nhi-seed-check", DurationSeconds=900)["Credentials"]
    s3_as_role = make_client("s3", credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])
    if s3_as_role.list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount", 0) != 1:
        raise RuntimeError(f"a session of {role_arn} listed no object in {bucket}")


def check_service_has_no_bucket_access(s3_as_service, bucket):
    """Raise unless nhi-service gets 403 on BUCKET with its own (standing) credentials."""
    try:
        s3_as_service.get_bucket_acl(Bucket=bucket)
    except ClientError as error:
        if http_status(error) == 403:
            return
        raise
    raise RuntimeError(f"nhi-service can read the ACL of {bucket} without assuming the role")


def main():
    owner_user = require_env("NHI_OWNER_USER")
    service_user = require_env("NHI_SERVICE_USER")
    role_name = require_env("NHI_REMEDIATION_ROLE_NAME")
    workflow_role_name = require_env("NHI_WORKFLOW_ROLE_NAME")
    public_policy_bucket = require_env("NHI_PUBLIC_POLICY_BUCKET")
    public_acl_bucket = require_env("NHI_PUBLIC_ACL_BUCKET")
    bystander_bucket = require_env("NHI_BYSTANDER_BUCKET")
    workflow_buckets = require_env("NHI_WORKFLOW_BUCKETS").split(",")
    fixtures_dir = Path(require_env("NHI_S3_FIXTURES_DIR"))
    account_id = os.environ.get("NHI_AWS_ACCOUNT_ID", "")

    iam = make_client("iam", require_env("NHI_SERVICE_ACCESS_KEY_ID"), require_env("NHI_SERVICE_SECRET_ACCESS_KEY"))
    s3_as_service = make_client("s3", require_env("NHI_SERVICE_ACCESS_KEY_ID"), require_env("NHI_SERVICE_SECRET_ACCESS_KEY"))
    sts = make_client("sts", require_env("NHI_SERVICE_ACCESS_KEY_ID"), require_env("NHI_SERVICE_SECRET_ACCESS_KEY"))
    s3_as_owner = make_client("s3", require_env("NHI_OWNER_ACCESS_KEY_ID"), require_env("NHI_OWNER_SECRET_ACCESS_KEY"))

    # A user without a tenant has an empty account id in radosgw ARNs: arn:aws:iam:::user/NAME.
    service_arn = f"arn:aws:iam::{account_id}:user/{service_user}"
    role = ensure_role(iam, role_name, service_arn, REMEDIATION_POLICY_NAME, REMEDIATION_ACTIONS)
    workflow_role = ensure_role(iam, workflow_role_name, service_arn, WORKFLOW_POLICY_NAME, WORKFLOW_ACTIONS)
    owner_arn = f"arn:aws:iam::{account_id}:user/{owner_user}"

    reset_public_policy_bucket(s3_as_owner, public_policy_bucket, owner_arn)
    reset_public_acl_bucket(s3_as_owner, public_acl_bucket)
    reset_bystander_bucket(s3_as_owner, bystander_bucket)
    for bucket in workflow_buckets:
        reset_fixture_bucket(s3_as_owner, bucket, fixtures_dir / bucket)

    for bucket in (public_policy_bucket, public_acl_bucket, bystander_bucket, *workflow_buckets):
        check_service_has_no_bucket_access(s3_as_service, bucket)
    check_role_can_read(sts, workflow_role["Arn"], workflow_buckets[0])

    json.dump({
        "RoleArn": role["Arn"],
        "RoleId": role["RoleId"],
        "WorkflowRoleArn": workflow_role["Arn"],
        "WorkflowRoleId": workflow_role["RoleId"],
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()
