-- Argo CD health of ecs-operator's kinds (ecs.operator.dev/v1alpha1 Cluster,
-- TaskDefinition, Service and Task), read from the status the operator writes. One
-- script for all: resource_customizations/ecs.operator.dev/<Kind>/health.lua link here.
-- It runs without Lua's open libraries (Argo CD's default): no string.* functions.
local hs = {}

local function condition(conditions, type)
  for _, c in ipairs(conditions or {}) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local generation = obj.metadata.generation
local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for ecs-operator to report status"
  return hs
end
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for ecs-operator to observe generation " .. generation
  return hs
end

local synced = condition(status.conditions, "Synced")
local ready = condition(status.conditions, "Ready")
local degraded = condition(status.conditions, "Degraded")

-- A spec the operator cannot apply, a resource it does not own, or an AWS error that
-- retrying cannot fix: the user has to act.
if synced ~= nil and synced.status == "False" then
  local r = synced.reason
  if r == "Invalid" or r == "Conflict" or r == "ImmutableFieldChanged" or r == "AwsError" then
    hs.status = "Degraded"
    hs.message = r .. ": " .. (synced.message or "")
    return hs
  end
end
-- An ECS cluster that failed to provision (Cluster only).
if status.ecsStatus == "FAILED" then
  hs.status = "Degraded"
  hs.message = "ECS reports the cluster FAILED"
  return hs
end
-- A one-off run that gave up: backoff limit, deadline, or a spec that cannot run (Task only).
local failed = condition(status.conditions, "Failed")
if failed ~= nil and failed.status == "True" then
  hs.status = "Degraded"
  hs.message = failed.reason .. ": " .. (failed.message or "")
  return hs
end
-- A failed rollout, or one ECS rolled back (Service only).
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = degraded.reason .. ": " .. (degraded.message or "")
  return hs
end
-- Ready: the PRIMARY deployment completed and every desired task runs (Service); a
-- Task's tasks all exited 0 (Complete).
if ready ~= nil and ready.status == "True" and (generation == nil or ready.observedGeneration == nil or ready.observedGeneration >= generation) then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end
-- A rollout in progress, a reference or AWS being waited for, a transient AWS error.
hs.status = "Progressing"
if ready ~= nil then
  hs.message = ready.reason .. ": " .. (ready.message or "")
else
  hs.message = "Waiting for ecs-operator to report readiness"
end
return hs
