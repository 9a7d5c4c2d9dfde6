-- wrk script: pipelines DEPTH requests per write (wrk's own example
-- pipeline.lua, with the depth as an argument). wrk counts every response and
-- writes the next batch once all DEPTH answers of the last one have arrived.
--
--   wrk -t1 -c64 -d5s -s pipeline.lua http://127.0.0.1:PORT/ -- 16

init = function(args)
   local depth = tonumber(args[1]) or 16
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format()
   end
   req = table.concat(r)
end

request = function()
   return req
end
