-- wrk script: PUT a 4 KiB body to a new name each request, under the path prefix $PREFIX
wrk.method = "PUT"
wrk.body = string.rep("x", 4096)
local prefix = os.getenv("PREFIX") or ""
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, prefix .. "/small/" .. n .. "-" .. math.random(1, 1e9) .. ".bin")
end
